"""A real HTTP server on 127.0.0.1 that records every request and answers as a test says.

Notification receivers (Apprise's ``json://``, the signed webhook) and the forges' REST
APIs are tested against this: each request is kept whole (method, path with query,
headers with lower-case names, raw body) for the test to check against the documented
API, and a ``respond`` function chooses each answer (status, JSON body, headers). The
server runs in a thread; :meth:`Receiver.wait_for` waits (with a deadline) on a
condition instead of sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "Receiver", "Request", "receiver"]


@dataclass(frozen=True)
class Request:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """What to answer: a status, a JSON body (or None), extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Respond = Callable[[Request], Answer]


class Receiver:
    """The recorded requests and the server's base URL."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self._changed = threading.Condition()
        self.url = ""

    def record(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def wait_for(self, count: int, *, timeout: float = 60.0) -> list[Request]:
        """Wait until ``count`` requests have arrived; the requests."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests)


def _handler(owner: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=self.path,
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            owner.record(request)
            answer = owner.respond(request)
            payload = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    return Handler


@contextmanager
def receiver(respond: Respond | None = None) -> Iterator[Receiver]:
    """A running :class:`Receiver` (answering 200 with no body unless ``respond`` says otherwise)."""
    owner = Receiver(respond or (lambda _request: Answer()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(owner))
    server.daemon_threads = True
    owner.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
