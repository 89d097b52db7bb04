"""One operation per stack at a time: plan, apply, drift check, rollback never overlap.

Argo CD refuses a second operation on a busy application with "another operation is
already in progress"; truenorth does the same per stack. The reconcile loop waits for a
busy stack (:meth:`StackLocks.acquire`), API actions refuse at once
(:meth:`StackLocks.try_acquire` returns None) and drift checks skip it.

These locks live in the controller's process (asyncio, one event loop). The interface
(:class:`LockProvider`) is what a PostgreSQL-backed provider would implement for several
controller replicas: ``pg_try_advisory_lock(hash(repository, stack))`` held on a
dedicated connection for the lease's lifetime, released by ``pg_advisory_unlock`` or by
the server when the holder's connection dies (so a killed controller never leaves a stack
locked, like the flock on mirrors).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

__all__ = ["Lease", "LockProvider", "StackKey", "StackLocks"]

#: (repository name, stack name)
StackKey = tuple[str, str]


class LockProvider(Protocol):
    """What the controller needs from a lock backend."""

    def busy(self, key: StackKey) -> bool:
        """True while someone holds ``key``."""
        ...

    def holder(self, key: StackKey) -> str | None:
        """What holds ``key`` (an operation's description), or None."""
        ...

    def try_acquire(self, key: StackKey, *, purpose: str) -> Lease | None:
        """Take ``key`` now, or return None when it is held."""
        ...

    async def acquire(self, key: StackKey, *, purpose: str) -> Lease:
        """Wait until ``key`` is free, then take it."""
        ...


@dataclass
class Lease:
    """A held stack lock; release it exactly once (``with lease:`` does)."""

    key: StackKey
    purpose: str
    _locks: StackLocks = field(repr=False)
    _released: bool = False

    def release(self) -> None:
        """Give the stack back (idempotent)."""
        if not self._released:
            self._released = True
            self._locks._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class StackLocks:
    """In-process stack locks for one event loop."""

    def __init__(self) -> None:
        self._held: dict[StackKey, tuple[Lease, asyncio.Event]] = {}

    def busy(self, key: StackKey) -> bool:
        return key in self._held

    def holder(self, key: StackKey) -> str | None:
        found = self._held.get(key)
        return None if found is None else found[0].purpose

    def held(self) -> list[StackKey]:
        """Every key held now."""
        return list(self._held)

    def try_acquire(self, key: StackKey, *, purpose: str) -> Lease | None:
        if key in self._held:
            return None
        lease = Lease(key=key, purpose=purpose, _locks=self)
        self._held[key] = (lease, asyncio.Event())
        return lease

    async def acquire(self, key: StackKey, *, purpose: str) -> Lease:
        while True:
            lease = self.try_acquire(key, purpose=purpose)
            if lease is not None:
                return lease
            await self._held[key][1].wait()

    def _release(self, lease: Lease) -> None:
        found = self._held.get(lease.key)
        if found is not None and found[0] is lease:
            del self._held[lease.key]
            found[1].set()
