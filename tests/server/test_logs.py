"""Log set-up: text or JSON lines, with secrets and URL credentials masked everywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from truenorth.server import logs

SECRET = "tn-log-secret-4d3c2b1a"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def emit(log_format: str) -> str:
    stream = io.StringIO()
    logs.configure(log_format=log_format, secrets=[SECRET], stream=stream)
    log = logging.getLogger("truenorth.test")
    log.info("token %s used", SECRET)
    log.warning("fetch https://user:%s@git.example.com/x.git failed", "pa55word")
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        log.exception("it failed")
    logging.getLogger("uvicorn.error").info("from uvicorn: %s", SECRET)
    return stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_are_redacted() -> None:
    text = emit("text")
    assert SECRET not in text and "pa55word" not in text
    assert "token *** used" in text
    assert "https://***@git.example.com/x.git" in text
    assert "RuntimeError: boom with ***" in text
    assert "from uvicorn: ***" in text


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_are_redacted_and_parse() -> None:
    text = emit("json")
    assert SECRET not in text and "pa55word" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [e["level"] for e in entries] == ["info", "warning", "error", "info"]
    assert entries[0]["logger"] == "truenorth.test"
    assert entries[0]["message"] == "token *** used"
    assert "RuntimeError: boom with ***" in entries[2]["exception"]
    assert entries[0]["time"].endswith("+00:00")


@pytest.mark.usefixtures("restore_logging")
def test_broken_format_arguments_do_not_drop_the_record() -> None:
    stream = io.StringIO()
    logs.configure(log_format="text", secrets=[SECRET], stream=stream)
    logging.getLogger("x").info("two %s %s", SECRET)  # noqa: PLE1206 - on purpose
    assert "unformattable" in stream.getvalue()
    assert SECRET not in stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_records_are_bounded_and_terminal_safe(log_format: str) -> None:
    stream = io.StringIO()
    logs.configure(log_format=log_format, secrets=[SECRET], stream=stream)
    subject = "\x1b]0;pwned\x07\x1b[2J\rfake line\u202etxt.exe" + "a" * (1024 * 1024) + SECRET
    logging.getLogger("truenorth.test").info("fetched %s", subject)
    path = "/" + "x" * 60_000 + "?token=" + SECRET
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 404
    )
    out = stream.getvalue()
    assert SECRET not in out
    assert not any(code in out for code in ("\x1b", "\r", "\u202e", "\x07"))
    lines = out.splitlines()
    assert len(lines) == 2 and len(out) < logs.MAX_MESSAGE + logs.MAX_REQUEST_TARGET + 1000
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\rfake line\\u202etxt.exe" in lines[0].replace("\\\\", "\\")
    assert "more bytes)" in lines[0]
    assert lines[1].endswith('HTTP/1.1" 404' if log_format == "text" else 'HTTP/1.1\\" 404"}')
    assert "more bytes)" in lines[1]
