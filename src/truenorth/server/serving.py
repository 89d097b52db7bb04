"""Running the app: uvicorn on the listen address, with bounded headers and clean shutdown.

:func:`run` binds the listen socket itself (so ``--listen 127.0.0.1:0`` works and the
real port can be announced at once; connections wait in the backlog until the
controller has started), then runs uvicorn in this
process: h11 with request headers capped at 64 KiB (``h11_max_incomplete_event_size``),
a keep-alive timeout, and a deadline for the request headers (slow headers, the
Slowloris attack: uvicorn has no such timeout of its own, so the protocol class below
adds one). SIGTERM and SIGINT stop accepting connections, let running requests finish
(up to ``graceful_timeout``) and then run the app's lifespan shutdown, which stops the
controller. Uvicorn's own logging configuration is off: ``logs.configure`` has set up
redacted logging for every logger before this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from truenorth import config as controller_config

__all__ = ["HEADER_TIMEOUT", "MAX_HEADER_BYTES", "HeaderDeadlineProtocol", "bind", "run"]

#: Seconds a client has to send a request's headers once it has connected or started one.
HEADER_TIMEOUT = 10.0
#: The most header bytes one request may have (Flux's receiver allows 256 KiB; we need far less).
MAX_HEADER_BYTES = 64 * 1024
KEEP_ALIVE_TIMEOUT = 5
GRACEFUL_TIMEOUT = 30


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for receiving a request's headers."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._awaiting_headers():
            self._arm()
        super().data_received(data)
        if not self._awaiting_headers():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        cycle = self.cycle
        return cycle is None or bool(cycle.response_complete)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = asyncio.get_running_loop().call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    """uvicorn's server, ending the app's event streams first when it shuts down.

    A graceful stop waits for open responses; a browser's event stream never ends by
    itself, so without this every open tab would hold the stop for ``GRACEFUL_TIMEOUT``.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        streams = getattr(getattr(self.config.app, "state", None), "streams", None)
        if streams is not None:
            streams.close()
        await super().shutdown(sockets=sockets)


def bind(listen: str) -> socket.socket:
    """A listening socket on ``HOST:PORT`` (port 0: any free port)."""
    host, port = controller_config.parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # Connections queue until the app has started, instead of being refused.
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(
    app: Any,
    *,
    sock: socket.socket,
    header_timeout: float = HEADER_TIMEOUT,
) -> bool:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT; False if start-up failed."""
    protocol = type("Protocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout})
    config = uvicorn.Config(
        app,
        http=protocol,
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=True,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    server = _Server(config)
    # uvicorn raises Ctrl-C again once it has shut down cleanly: that is a normal end.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return bool(server.started)
