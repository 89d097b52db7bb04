"""One operation per stack at a time: plan, apply, drift check, rollback never overlap.

Argo CD refuses a second operation on a busy application with "another operation is
already in progress"; truenorth does the same per stack. The reconcile loop waits for a
busy stack (:meth:`StackLocks.acquire`), API actions refuse at once
(:meth:`StackLocks.try_acquire` returns None) and drift checks skip it.

These locks live in the controller's process (asyncio, one event loop). On PostgreSQL,
where several controller replicas share the store, every lease also holds the stack's
*database* lock (``Store.stack_lock``: a session-level advisory lock on a connection of
its own, released on unlock or by the server when the holder's session dies, so a
killed replica never leaves a stack locked): ``database`` opens it, and refuses with
:class:`~truenorth.store.locking.StackBusy` when another replica holds it or this one no
longer holds the repository's lease. :meth:`StackLocks.acquire` then waits and tries
again (the loop), :meth:`StackLocks.try_hold` answers busy (actions, drift checks). The
database part runs in a thread (never on the event loop), and is released in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from truenorth.store import locking

__all__ = ["DatabaseLocks", "Lease", "LockProvider", "StackKey", "StackLocks"]

#: (repository name, stack name)
StackKey = tuple[str, str]
#: Opens the database lock of a stack, waiting at most ``wait`` seconds when taken (raises
#: ``StackBusy`` when it stays taken or this replica does not own the repository, and
#: ``StoreError`` when the database cannot be reached). None: no database lock (SQLite).
DatabaseLocks = Callable[..., locking.StackLock]
#: How long one database attempt waits for the lock: the loop's, and an action's (a lock
#: this process released a moment ago may still be held while its thread lets go).
_LOOP_WAIT = 1.0
_ACTION_WAIT = 3.0
_RETRY_FIRST, _RETRY_MAX = 0.2, 2.0


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
    #: The stack's database lock while held (PostgreSQL).
    _database: locking.StackLock | None = field(default=None, repr=False)

    def release(self) -> None:
        """Give the stack back (idempotent); the database lock is let go in a thread."""
        if not self._released:
            self._released = True
            held, self._database = self._database, None
            if held is not None:
                threading.Thread(target=held.release, name="truenorth-unlock", daemon=True).start()
            self._locks._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class StackLocks:
    """In-process stack locks for one event loop."""

    def __init__(self, *, database: DatabaseLocks | None = None) -> None:
        self._held: dict[StackKey, tuple[Lease, asyncio.Event]] = {}
        #: Opens a stack's database lock (PostgreSQL replicas); None: in-process only.
        self.database = database

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
        """Wait until ``key`` is free here and (PostgreSQL) in the database, then hold both.

        A stack another replica holds, or of a repository this one no longer owns, is
        tried again with a growing pause; a store failure is raised.
        """
        pause = _RETRY_FIRST
        while True:
            lease = await self._acquire_here(key, purpose=purpose)
            if self.database is None:
                return lease
            try:
                await self._lock_database(lease, wait=_LOOP_WAIT)
                return lease
            except locking.StackBusy:
                lease.release()
            except BaseException:
                lease.release()
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RETRY_MAX)

    async def try_hold(self, key: StackKey, *, purpose: str) -> Lease | None:
        """:meth:`try_acquire`, and (PostgreSQL) the database lock too; None when either is taken.

        A store failure is raised (``StoreError``).
        """
        lease = self.try_acquire(key, purpose=purpose)
        if lease is None or self.database is None:
            return lease
        try:
            await self._lock_database(lease, wait=_ACTION_WAIT)
        except locking.StackBusy:
            lease.release()
            return None
        except BaseException:
            lease.release()
            raise
        return lease

    async def _acquire_here(self, key: StackKey, *, purpose: str) -> Lease:
        while True:
            lease = self.try_acquire(key, purpose=purpose)
            if lease is not None:
                return lease
            await self._held[key][1].wait()

    async def _lock_database(self, lease: Lease, *, wait: float) -> None:
        """Hold ``lease``'s database lock, taken in a thread; a cancel never leaks it."""
        assert self.database is not None
        held = self.database(lease.key, wait=wait)
        taking = asyncio.ensure_future(asyncio.to_thread(held.acquire))
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await taking  # the thread cannot be stopped: wait, then let go
            threading.Thread(target=held.release, name="truenorth-unlock", daemon=True).start()
            raise
        lease._database = held

    def _release(self, lease: Lease) -> None:
        found = self._held.get(lease.key)
        if found is not None and found[0] is lease:
            del self._held[lease.key]
            found[1].set()
