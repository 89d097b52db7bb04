"""``truenorth logs RUN --follow`` reads the server-sent log stream and resumes it where it broke.

A real HTTP server on 127.0.0.1 plays the controller's API: its first log stream sends
two lines and then drops the connection before the ``end`` event (a proxy's timeout);
the second must come with ``Last-Event-ID: 2`` and gets the third line and ``end``. The
log's polling endpoint (``GET /runs/{id}/log``) answers 404 here: following never uses it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from truenorth.cli import client, main

pytestmark = pytest.mark.slow

TOKEN = "tn-follow-token-0123456789"


class FakeApi(BaseHTTPRequestHandler):
    """The three answers ``logs --follow`` needs; every request recorded on the server."""

    protocol_version = "HTTP/1.0"  # the body ends when the connection closes

    def log_message(self, *args: object) -> None:
        del args

    def do_GET(self) -> None:
        seen: list[tuple[str, str | None]] = self.server.seen  # type: ignore[attr-defined]
        seen.append((self.path, self.headers.get("Last-Event-ID")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, {"detail": "no token"})
        elif self.path == "/api/v1/runs/7/log/stream":
            self._stream(self.headers.get("Last-Event-ID"))
        elif self.path == "/api/v1/runs/8/log/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b": nothing, then the connection closes\n\n")
        elif self.path == "/api/v1/runs/7":
            self._json(200, {"id": 7, "status": "succeeded"})
        else:
            self._json(404, {"detail": f"not here: {self.path}"})

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, last_event_id: str | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"retry: 10\n\n")
        if last_event_id is None:
            lines = [{"seq": 1, "line": "first"}, {"seq": 2, "line": "second"}]
            self.wfile.write(_event("lines", {"lines": lines, "next_after": 2}, 2))
            return  # the connection closes here: no `end`
        assert last_event_id == "2"
        self.wfile.write(b": keep-alive\n\n")
        self.wfile.write(_event("lines", {"lines": [{"seq": 3, "line": "third"}], "next_after": 3}, 3))
        self.wfile.write(_event("end", {"next_after": 3}, 3))


def _event(name: str, data: object, event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


@pytest.fixture
def api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def test_logs_follow_streams_and_resumes_with_last_event_id(api: ThreadingHTTPServer) -> None:
    result = CliRunner().invoke(main.app, ["logs", "7", "--follow", "--server", _url(api), "--token", TOKEN])
    assert result.exit_code == 0, result.output
    assert result.stdout == "first\nsecond\nthird\n"  # each line once, in order
    assert "run 7: succeeded" in result.stderr
    assert api.seen == [  # type: ignore[attr-defined]
        ("/api/v1/runs/7/log/stream", None),
        ("/api/v1/runs/7/log/stream", "2"),
        ("/api/v1/runs/7", None),
    ]


def test_a_stream_that_keeps_breaking_is_an_error(api: ThreadingHTTPServer) -> None:
    lines: list[str] = []
    with (
        client.ApiClient(_url(api), TOKEN) as api_client,
        pytest.raises(client.RemoteError, match="cannot follow run 8"),
    ):
        client.follow_run(api_client, 8, on_line=lines.append, retry=0.01, attempts=3)
    assert lines == []
    assert [path for path, _ in api.seen] == ["/api/v1/runs/8/log/stream"] * 3  # type: ignore[attr-defined]


def test_an_unknown_run_is_an_error_at_once(api: ThreadingHTTPServer) -> None:
    with (
        client.ApiClient(_url(api), TOKEN) as api_client,
        pytest.raises(client.RemoteError, match="404") as caught,
    ):
        client.follow_run(api_client, 9, on_line=lambda line: None, retry=0.01)
    assert "BrokenStream" not in type(caught.value).__name__
