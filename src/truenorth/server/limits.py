"""Bounds on request bodies: size and time, enforced before the app reads on.

A pure ASGI middleware in front of the whole app. A ``Content-Length`` over the limit
is answered 413 at once, without reading a byte of the body; a chunked body is counted
while it streams and cut with 413 at the first byte over the limit; a body that does
not arrive within ``body_timeout`` seconds of the request's start is answered 408. In
each case the connection is closed (``Connection: close``), whatever the app was doing
with the body is discarded, and ``on_reject(path, status)`` is told (for metrics).
Header size and slow headers are bounded by the HTTP server (see ``serving``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_MAX_BODY", "BodyLimits"]

#: The largest body accepted: 1 MiB (Argo CD allows 50 MB, Flux 3 MiB; a push payload is far smaller).
DEFAULT_MAX_BODY = 1024 * 1024
#: Seconds a client has to send its whole body.
DEFAULT_BODY_TIMEOUT = 10.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RejectHook = Callable[[str, int], None]


class _BodyRefusedError(Exception):
    """Raised into the app when its body is over the limit or too slow."""


@dataclass
class _Cycle:
    deadline: float
    received: int = 0
    complete: bool = False
    refused: int | None = None
    started: bool = False


class BodyLimits:
    """ASGI middleware: 413 past ``max_body`` bytes, 408 past ``body_timeout`` seconds."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        on_reject: RejectHook | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await self._refuse(scope, send, 400, "invalid Content-Length header")
            return
        if declared is not None and declared > self.max_body:
            await self._refuse(scope, send, 413, self._too_large())
            return
        cycle = _Cycle(deadline=time.monotonic() + self.body_timeout)

        async def limited_receive() -> Message:
            if cycle.refused is not None:
                raise _BodyRefusedError
            if cycle.complete:
                return await receive()
            try:
                message = await asyncio.wait_for(
                    receive(), timeout=max(0.0, cycle.deadline - time.monotonic())
                )
            except TimeoutError:
                cycle.refused = 408
                raise _BodyRefusedError from None
            if message["type"] == "http.request":
                cycle.received += len(message.get("body", b""))
                if cycle.received > self.max_body:
                    cycle.refused = 413
                    raise _BodyRefusedError
                cycle.complete = not message.get("more_body", False)
            else:
                cycle.complete = True
            return message

        async def guarded_send(message: Message) -> None:
            if cycle.refused is not None:
                return  # The app's answer is replaced by ours.
            if message["type"] == "http.response.start":
                cycle.started = True
            await send(message)

        with contextlib.suppress(_BodyRefusedError):
            await self.app(scope, limited_receive, guarded_send)
        if cycle.refused is not None and not cycle.started:
            if cycle.refused == 413:
                await self._refuse(scope, send, 413, self._too_large())
            else:
                await self._refuse(scope, send, 408, "request body not received in time")

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body} bytes"

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        if self.on_reject is not None:
            self.on_reject(str(scope.get("path", "")), status)
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    """The declared length, None without one, -1 when it is not a plain number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None
