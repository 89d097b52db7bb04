"""One controller per data dir instance on a PostgreSQL database: a session-level advisory lock.

A SQLite store lives in the data dir, which the data-dir lock already gives to one
controller. A PostgreSQL database is shared by several controller replicas
(``controller/loop/sharing.py``), each with its own data dir; what must never happen is
two controllers with the same data dir *instance id* (a copied data dir, a cloned
volume): their runs would carry one instance, and each one's crash recovery would end
the other's runs. :func:`claim` takes ``pg_try_advisory_lock`` keyed by the instance id
(or, without one, one key for the whole database: a single controller), on a connection
of its own named after the holder (``application_name``), and keeps it open:
PostgreSQL releases the lock when that session ends, also when the holder is killed or
its host goes away (once the server notices the dead connection). A refused claim names
the holder as PostgreSQL sees it.

Limitation: if the lock's connection breaks while the controller runs (the server
restarts), the lock is gone and another controller could start; the next one to try
succeeds only after this session is gone, so two never hold it at once.
"""

from __future__ import annotations

import contextlib
import hashlib

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from truenorth.store import connecting, errors, urls

__all__ = ["LOCK_KEY", "Claim", "Claimed", "claim", "lock_key"]

#: The advisory lock key of "the truenorth controller" (a signed 64-bit number).
LOCK_KEY = int.from_bytes(hashlib.sha256(b"truenorth controller").digest()[:8], "big", signed=True)
_APPLICATION_NAME_LIMIT = 63


class Claimed(errors.StoreError):
    """Another controller holds the database; the message names it."""


class Claim:
    """A held database (release it, or let the process end)."""

    def __init__(self, engine: sa.Engine | None, connection: sa.Connection | None) -> None:
        self._engine = engine
        self._connection = connection

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def lock_key(instance: str | None) -> int:
    """The advisory lock key of the controller of data dir ``instance`` (None: the one controller)."""
    if instance is None:
        return LOCK_KEY
    digest = hashlib.sha256(b"truenorth controller\x00" + instance.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def claim(url: str, *, label: str, instance: str | None = None) -> Claim:
    """Hold the database at ``url`` for the controller named ``label`` of data dir ``instance``.

    SQLite: nothing to hold (the data dir's lock covers it). PostgreSQL: raises
    :class:`Claimed` naming the holder when another controller with that instance id
    (or, without ``instance``, any controller) has it, and
    :class:`~truenorth.store.errors.StoreError` when the database cannot be reached.
    """
    parsed = urls.database_url(url)
    if parsed.get_backend_name() != "postgresql":
        return Claim(None, None)
    secrets = urls.url_secrets(url)
    shown = urls.redact_url(parsed)
    engine = connecting.create_engine(parsed, busy_timeout=5.0)
    connection: sa.Connection | None = None
    try:
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(
            sa.text("SELECT set_config('application_name', :name, false)"),
            {"name": label[:_APPLICATION_NAME_LIMIT]},
        )
        key = lock_key(instance)
        got = connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        if not got:
            holder = _holder(connection, key)
            if instance is None:
                raise Claimed(f"the database {shown} is in use by another controller ({holder})")
            raise Claimed(
                f"the database {shown} is in use by another controller with this data dir's instance id "
                f"{instance} ({holder}): a copied data dir? Give every replica its own data dir (or remove "
                "the copy's instance-id file)"
            )
    except sa_exc.SQLAlchemyError as exc:
        if connection is not None:
            connection.close()
        engine.dispose()
        reason = errors.describe(exc, secrets=secrets)
        raise errors.StoreError(
            errors.scrub(f"cannot claim the database {shown} for this controller: {reason}", secrets)
        ) from None
    except BaseException:
        if connection is not None:
            connection.close()
        engine.dispose()
        raise
    return Claim(engine, connection)


def _holder(connection: sa.Connection, key: int) -> str:
    """The session holding the lock, as far as PostgreSQL shows it to us."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    row = connection.execute(
        sa.text(
            "SELECT a.application_name, host(a.client_addr), a.pid, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = CAST(:high AS oid) AND l.objid = CAST(:low AS oid) LIMIT 1"
        ),
        {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF},
    ).one_or_none()
    if row is None:
        return "its session is not visible to this user"
    name, address, pid, since = row
    parts = [str(name or "unnamed session"), f"database session {pid}"]
    parts.append(f"from {address}" if address else "over a local socket")
    if since is not None:
        parts.append(f"connected since {since.isoformat()}")
    return ", ".join(parts)
