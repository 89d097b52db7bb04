"""One operation per stack across every controller sharing a store: a database lock.

Leases say which replica *should* work on a repository; they are not enough alone: a
replica whose lease expired (a long pause, a network split) may still be in the middle
of an apply when another takes the repository over. So every plan or apply of a stack
also holds a PostgreSQL *session-level advisory lock* keyed by the repository and the
stack, on a connection of its own kept open for the whole operation. PostgreSQL grants
it to one session at a time, whatever the leases say, and releases it when the holder
unlocks or its session ends (a killed process, a dropped connection, once the server
notices). On SQLite there is one controller by rule, whose in-process locks suffice:
:class:`StackLock` holds nothing there.

The lock's key is the first 8 bytes of SHA-256 over a fixed label, the repository key
and the stack name: a signed 64-bit number, the same on every replica.
"""

from __future__ import annotations

import contextlib
import hashlib
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from truenorth.store import errors

__all__ = ["StackBusy", "StackLock", "stack_lock_key"]

_LABEL = b"truenorth stack\x00"
#: PostgreSQL's SQLSTATE for "lock_not_available" (lock_timeout expired).
_LOCK_NOT_AVAILABLE = "55P03"


def stack_lock_key(repository: str, stack: str) -> int:
    """The advisory lock key of one stack of one repository (a signed 64-bit number)."""
    digest = hashlib.sha256(
        _LABEL
        + repository.encode("utf-8", "surrogatepass")
        + b"\x00"
        + stack.encode("utf-8", "surrogatepass")
    ).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StackBusy(errors.StoreError):
    """Another controller (or another operation) holds the stack's lock."""


class StackLock:
    """The lock of one stack; a context manager (``with store.stack_lock(...)``).

    ``engine`` must pool nothing (``NullPool``): the lock's session ends when it is
    released. None (SQLite) holds nothing.

    ``acquire`` raises :class:`StackBusy` when another session holds the lock after
    waiting ``wait`` seconds (0: do not wait), and
    :class:`~truenorth.store.errors.StoreError` when the database cannot be reached.
    :meth:`held` asks the database whether the lock's session is still there.
    """

    def __init__(
        self,
        engine: sa.Engine | None,
        *,
        repository: str,
        stack: str,
        wait: float,
        secrets: tuple[str, ...] = (),
        shown_url: str = "",
    ) -> None:
        self._engine = engine
        self._connection: sa.Connection | None = None
        self.repository = repository
        self.stack = stack
        self.key = stack_lock_key(repository, stack)
        self._wait = max(0.0, float(wait))
        self._secrets = secrets
        self._shown_url = shown_url

    def acquire(self) -> None:
        if self._engine is None or self._connection is not None:
            return
        connection: sa.Connection | None = None
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self._wait <= 0:
                got = connection.execute(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar()
            else:
                millis = max(1, int(self._wait * 1000))
                connection.execute(sa.text(f"SET lock_timeout = {millis:d}"))
                try:
                    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
                    got = True
                except sa_exc.OperationalError as exc:
                    if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                        raise
                    got = False
                connection.execute(sa.text("SET lock_timeout = 0"))
        except sa_exc.SQLAlchemyError as exc:
            self._close(connection)
            reason = errors.describe(exc, secrets=self._secrets)
            raise errors.StoreError(
                errors.scrub(
                    f"cannot lock stack {self.stack!r} for this operation: {reason} [database {self._shown_url}]",
                    self._secrets,
                )
            ) from None
        except BaseException:
            self._close(connection)
            raise
        if not got:
            self._close(connection)
            raise StackBusy(
                f"stack {self.stack!r} of {self.repository} is busy: another controller or operation holds "
                "its lock"
            )
        self._connection = connection

    def release(self) -> None:
        """Unlock and close the lock's connection (idempotent; a dead connection is fine)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(sa_exc.SQLAlchemyError):
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._close(connection)

    def held(self) -> bool:
        """True while the lock's session is alive (always True on SQLite)."""
        if self._engine is None:
            return True
        if self._connection is None:
            return False
        try:
            return bool(
                self._connection.execute(
                    sa.text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND pid = pg_backend_pid() AND objsubid = 1 "
                        "AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid))"
                    ),
                    {"high": (self.key & 0xFFFF_FFFF_FFFF_FFFF) >> 32, "low": self.key & 0xFFFF_FFFF},
                ).scalar()
            )
        except sa_exc.SQLAlchemyError:
            return False

    def __enter__(self) -> StackLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @staticmethod
    def _close(connection: sa.Connection | None) -> None:
        if connection is not None:
            # The lock engine pools nothing: closing ends the session, and the lock with it.
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                connection.close()
