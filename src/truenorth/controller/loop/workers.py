"""The bounded pool of worker threads that blocking work (git, engines) runs in.

Engines and git are synchronous; the controller is asyncio. Every blocking call goes
through :meth:`WorkerPool.run`, which waits for a free worker (the waiting count is the
``truenorth_queue_depth`` gauge), runs the call in a thread and, if the awaiting task is
cancelled (the controller stops), sets the operation's cancel event and waits for the
thread to end, so that no engine keeps running unrecorded behind the controller's back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["WorkerPool"]

T = TypeVar("T")


class WorkerPool:
    """At most ``size`` calls at a time; ``on_depth`` hears how many are waiting."""

    def __init__(self, size: int, *, name: str, on_depth: Callable[[int], None] | None = None) -> None:
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"truenorth-{name}")
        self._slots = asyncio.Semaphore(size)
        self._waiting = 0
        self._running = 0
        self._on_depth = on_depth or (lambda depth: None)

    @property
    def waiting(self) -> int:
        """Calls waiting for a worker."""
        return self._waiting

    @property
    def running(self) -> int:
        """Calls running in a worker now."""
        return self._running

    async def run(
        self, call: Callable[[], T], *, cancel: threading.Event | None = None, wait_on_cancel: bool = True
    ) -> T:
        """Run ``call()`` in a worker thread and return its result (or raise its exception).

        When the awaiting task is cancelled, ``cancel`` is set and, with ``wait_on_cancel``,
        the thread is waited for (engine operations); without, it is left to finish alone
        (short git and store calls, bounded by their own timeouts).
        """
        self._waiting += 1
        self._on_depth(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self._on_depth(self._waiting)
        self._running += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, call)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                if cancel is not None:
                    cancel.set()
                if wait_on_cancel:
                    with contextlib.suppress(Exception):
                        await future  # the thread cannot be killed: wait for it to notice
                raise
        finally:
            self._running -= 1
            self._slots.release()

    def close(self, *, wait: bool = True) -> None:
        """Stop the threads once running calls end (``wait``: block until they have)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
