"""The controller's logs: text or JSON lines on stderr, with every secret masked.

``truenorth serve`` calls :func:`configure` once. Every record of every logger (the
controller's, uvicorn's, SQLAlchemy's) passes the handler's :class:`RedactingFilter`,
which masks the configured secret values (API tokens, webhook secret, Git
credentials) and credentials in URLs in the message, its arguments and any traceback,
before a formatter sees it. ``log_format = "json"`` gives one JSON object per line
(``time``, ``level``, ``logger``, ``message`` and ``exception`` when there is one), for
log shippers; ``"text"`` is for people.

Log records carry text that others wrote (a request's path and query, a commit subject,
git's and the engines' errors), so the filter also bounds each record (a message at
:data:`MAX_MESSAGE` characters, the request target of an access line at
:data:`MAX_REQUEST_TARGET`, a traceback at :data:`MAX_TRACEBACK`, each cut with a
``"... (N more bytes)"`` marker) and escapes terminal control characters (ESC, CR, the
bidi overrides): a log line can neither grow without limit nor rewrite the operator's
terminal. Every step is linear in the record's length, since it runs on the event loop.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from truenorth import texts
from truenorth.core import redaction

__all__ = [
    "MAX_MESSAGE",
    "MAX_REQUEST_TARGET",
    "MAX_TRACEBACK",
    "JsonLinesFormatter",
    "RedactingFilter",
    "configure",
]

#: The most characters of one log message kept.
MAX_MESSAGE = 16 * 1024
#: The most characters of a request's path and query kept in an access-log line.
MAX_REQUEST_TARGET = 2 * 1024
#: The most characters of one traceback kept.
MAX_TRACEBACK = 64 * 1024
_ACCESS_LOGGER = "uvicorn.access"

#: Libraries whose informational chatter (schema migration steps) is not worth a line.
_QUIET = ("alembic",)
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Masks secrets and URL credentials in a record before it is formatted."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._redact = redaction.Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == _ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            # uvicorn's '%s - "%s %s HTTP/%s" %d': cut the request target, keep the status.
            client, method, target, version, status = record.args
            record.args = (client, method, self._clean(str(target), MAX_REQUEST_TARGET), version, status)
        try:
            message = record.getMessage()
        except Exception:  # A broken format string must not drop the record or leak args.
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg = self._clean(message, MAX_MESSAGE)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text, MAX_TRACEBACK)
        record.exc_info = None  # The redacted exc_text stands in for it.
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info, MAX_TRACEBACK)
        return True

    def _clean(self, text: str, limit: int) -> str:
        # Redact before cutting, so that a cut can never leave half a secret unmasked.
        return texts.escape_controls(texts.bound(self._redact(text), limit))


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure(
    *,
    log_format: str,
    secrets: Iterable[str],
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr), redacted, as text or JSON lines.

    Replaces the root logger's handlers; returns the handler installed.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if log_format == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
