"""The real ``truenorth serve`` process, with every HTTP exchange kept for inspection.

:class:`RecordingServer` is :class:`tests.server.processes.ServerProcess` whose
``request`` (and so ``get_json``, ``stack``, ``wait_synced``) also appends each answer
(status, headers, body) to a shared list, so that the suite can look for canaries in
every byte the server ever answered, polling included.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.server.processes import ServerProcess

__all__ = ["Exchange", "RecordingServer"]


@dataclass(frozen=True)
class Exchange:
    """One request and the server's whole answer."""

    method: str
    path: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "content-type"), "")

    def raw(self) -> bytes:
        """Headers and body as one blob, for searching."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers).encode()
        return head + b"\n\n" + self.body


class RecordingServer(ServerProcess):
    """A ``truenorth serve`` process whose answers are all recorded in ``book``."""

    def __init__(self, args: list[str], *, env: Mapping[str, str], log: Path, book: list[Exchange]) -> None:
        super().__init__(args, env=env, log=log)
        self.book = book

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        response = super().request(method, path, token=token, **kwargs)
        self.book.append(
            Exchange(
                method=method,
                path=path,
                status=response.status_code,
                headers=tuple(response.headers.multi_items()),
                body=response.content,
            )
        )
        return response

    def stdout_rest(self) -> str:
        """What the process printed on stdout after its URL (call once it has exited)."""
        lines = []
        while True:
            try:
                line = self._lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(line)
        return "".join(lines)
