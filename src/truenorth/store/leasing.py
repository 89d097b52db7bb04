"""Replicas and repository leases: how controllers sharing one store split the work.

Every ``truenorth serve`` sharing a PostgreSQL store is a *replica*: it registers a row
in ``replicas`` and renews its ``heartbeat_at``; the live replicas are those heard from
within the lease time. Each tracked repository has a row in ``leases`` naming the one
replica working on it (polling, fetching, planning, applying) until ``expires_at``.
Which repositories a replica *should* hold is the pure rule of
:mod:`truenorth.core.assignments`; this module only takes, renews and releases them.

Every statement is one atomic ``UPDATE ... WHERE expires_at < now OR holder = me``,
and *now* is the database server's clock (PostgreSQL ``now()``): replicas' clocks
never decide who holds a lease. On SQLite (one controller by rule) the store's own
clock stands in. A lease that changes hands records ``previous_holder`` and bumps
``epoch``, so the taker knows whose runs to mark interrupted (only that replica's, only
in that repository) and never anybody else's. A released lease is handed back with no
holder, so its next taker interrupts nothing.

Functions take an open connection in a write transaction (the store's ``_writing``),
so each is one transaction; they raise SQLAlchemy errors for the store to word.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from truenorth.store import checks, records, schema
from truenorth.store.schema import LeaseRow, ReplicaRow

__all__ = [
    "MAX_LEASE_SECONDS",
    "MIN_LEASE_SECONDS",
    "Clock",
    "forget_replicas",
    "heartbeat",
    "leases",
    "live_replicas",
    "release",
    "renew",
    "take",
]

#: Bounds of a lease's duration (seconds).
MIN_LEASE_SECONDS = 0.05
MAX_LEASE_SECONDS = 3600.0
#: The expiry of a lease nobody holds: long past on every clock.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class Clock:
    """*Now* for one statement: the server's ``now()`` on PostgreSQL, ``fallback`` on SQLite."""

    def __init__(self, connection: sa.Connection, fallback: datetime) -> None:
        self._server = connection.dialect.name == "postgresql"
        self._fallback = fallback

    def now(self) -> sa.ColumnElement[datetime]:
        if self._server:
            return sa.func.now(type_=schema.UTCDateTime())
        return sa.literal(self._fallback, schema.UTCDateTime())

    def after(self, seconds: float) -> sa.ColumnElement[datetime]:
        """*Now* plus ``seconds`` (a checked float: formatted as whole milliseconds)."""
        if self._server:
            millis = round(seconds * 1000)
            return sa.func.now(type_=schema.UTCDateTime()) + sa.literal_column(
                f"interval '{millis:d} milliseconds'"
            )
        return sa.literal(self._fallback + timedelta(seconds=seconds), schema.UTCDateTime())


def duration(seconds: object, *, what: str = "lease time") -> float:
    """``seconds`` if it is a number within the lease bounds, else ``ValueError``."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"the {what} must be a number of seconds, got {type(seconds).__name__}")
    value = float(seconds)
    if not MIN_LEASE_SECONDS <= value <= MAX_LEASE_SECONDS:
        raise ValueError(
            f"the {what} must be {MIN_LEASE_SECONDS}..{MAX_LEASE_SECONDS:g} seconds, got {value:g}"
        )
    return value


def replica_id(value: object) -> str:
    """A replica id: non-empty, at most 255 characters (the runs' holder column)."""
    return checks.bounded(value, what="a replica id", limit=schema.NAME_LENGTH)


def repository_key(value: object) -> str:
    return checks.bounded(value, what="a repository key", limit=schema.REPOSITORY_LENGTH)


# Replicas ---------------------------------------------------------------------------


def heartbeat(
    connection: sa.Connection, clock: Clock, *, replica: str, address: str
) -> records.ReplicaRecord:
    """Register ``replica`` or renew its heartbeat (and address); return its row."""
    values: dict[str, Any] = {
        "id": replica_id(replica),
        "address": checks.bounded(address, what="a replica address", limit=schema.NAME_LENGTH, empty=True),
        "started_at": clock.now(),
        "heartbeat_at": clock.now(),
    }
    insert = _insert(connection, ReplicaRow, values)
    statement = insert.on_conflict_do_update(
        index_elements=["id"],
        set_={"heartbeat_at": insert.excluded.heartbeat_at, "address": insert.excluded.address},
    ).returning(*ReplicaRow.__table__.c)
    return _replica(connection.execute(statement).one())


def live_replicas(connection: sa.Connection, clock: Clock, *, within: float) -> list[records.ReplicaRecord]:
    """Replicas heard from in the last ``within`` seconds, by id."""
    query = (
        sa.select(ReplicaRow)
        .where(ReplicaRow.heartbeat_at >= clock.after(-duration(within, what="liveness window")))
        .order_by(ReplicaRow.id)
    )
    return [_replica(row) for row in connection.execute(query)]


def forget_replicas(
    connection: sa.Connection, clock: Clock, *, silent_for: float | None = None, replica: str | None = None
) -> list[str]:
    """Delete ``replica`` (leaving gracefully: its leases are released too), or every
    replica silent for ``silent_for`` seconds (their leases stay, to expire). Returns ids."""
    statement = sa.delete(ReplicaRow).returning(ReplicaRow.id)
    if replica is not None:
        statement = statement.where(ReplicaRow.id == replica_id(replica))
        release(connection, clock, replica=replica)
    elif silent_for is not None:
        statement = statement.where(
            ReplicaRow.heartbeat_at < clock.after(-duration(silent_for, what="silence"))
        )
    else:
        raise ValueError("forget_replicas needs a replica or a silence")
    return sorted(str(found) for found in connection.execute(statement).scalars())


# Leases -----------------------------------------------------------------------------


def take(
    connection: sa.Connection, clock: Clock, *, repository: str, replica: str, seconds: float
) -> records.LeaseRecord | None:
    """Take or renew the lease of ``repository`` for ``seconds``; None when another replica
    holds it and it has not expired. The returned record's ``previous_holder`` names the
    replica whose expired lease was taken (``taken_over_from``)."""
    key, me, ttl = repository_key(repository), replica_id(replica), duration(seconds)
    ensure = _insert(
        connection,
        LeaseRow,
        {
            "repository": key,
            "holder": "",
            "previous_holder": "",
            "epoch": 0,
            "acquired_at": _NEVER,
            "renewed_at": _NEVER,
            "expires_at": _NEVER,
        },
    ).on_conflict_do_nothing(index_elements=["repository"])
    connection.execute(ensure)
    mine = LeaseRow.holder == me
    statement = (
        sa.update(LeaseRow)
        .where(LeaseRow.repository == key, sa.or_(mine, LeaseRow.expires_at < clock.now()))
        .values(
            holder=me,
            previous_holder=sa.case((mine, LeaseRow.previous_holder), else_=LeaseRow.holder),
            epoch=sa.case((mine, LeaseRow.epoch), else_=LeaseRow.epoch + 1),
            acquired_at=sa.case((mine, LeaseRow.acquired_at), else_=clock.now()),
            renewed_at=clock.now(),
            expires_at=clock.after(ttl),
        )
        .returning(*LeaseRow.__table__.c)
    )
    row = connection.execute(statement).one_or_none()
    return None if row is None else _lease(row)


def renew(
    connection: sa.Connection,
    clock: Clock,
    *,
    replica: str,
    seconds: float,
    repositories: Sequence[str] | None,
) -> list[str]:
    """Extend every lease ``replica`` still holds (of ``repositories`` if given); return
    the repositories it holds, sorted. One missing from the answer was taken over."""
    statement = (
        sa.update(LeaseRow)
        .where(LeaseRow.holder == replica_id(replica))
        .values(renewed_at=clock.now(), expires_at=clock.after(duration(seconds)))
        .returning(LeaseRow.repository)
    )
    if repositories is not None:
        statement = statement.where(
            LeaseRow.repository.in_(sorted({repository_key(r) for r in repositories}))
        )
    return sorted(str(found) for found in connection.execute(statement).scalars())


def release(
    connection: sa.Connection, clock: Clock, *, replica: str, repositories: Sequence[str] | None = None
) -> list[str]:
    """Hand back ``replica``'s leases (of ``repositories`` if given) at once: no holder,
    expired, so any replica takes them next and interrupts nothing. Returns them, sorted."""
    del clock  # a released lease expires at the epoch, on every clock
    statement = (
        sa.update(LeaseRow)
        .where(LeaseRow.holder == replica_id(replica))
        .values(holder="", previous_holder="", expires_at=_NEVER)
        .returning(LeaseRow.repository)
    )
    if repositories is not None:
        statement = statement.where(
            LeaseRow.repository.in_(sorted({repository_key(r) for r in repositories}))
        )
    return sorted(str(found) for found in connection.execute(statement).scalars())


def leases(
    connection: sa.Connection, *, repositories: Sequence[str] | None = None
) -> list[records.LeaseRecord]:
    """The recorded leases (of ``repositories`` if given), by repository."""
    query = sa.select(LeaseRow).order_by(LeaseRow.repository)
    if repositories is not None:
        query = query.where(LeaseRow.repository.in_(sorted(set(repositories))))
    return [_lease(row) for row in connection.execute(query)]


# Plumbing ---------------------------------------------------------------------------


def _insert(connection: sa.Connection, table: type[schema.Base], values: dict[str, Any]) -> Any:
    # Imported where used (issue 16): an SQLite store never loads the PostgreSQL dialect.
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).values(**values)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).values(**values)


def _replica(row: sa.Row[Any]) -> records.ReplicaRecord:
    m = row._mapping
    return records.ReplicaRecord(
        id=m["id"], address=m["address"], started_at=m["started_at"], heartbeat_at=m["heartbeat_at"]
    )


def _lease(row: sa.Row[Any]) -> records.LeaseRecord:
    m = row._mapping
    return records.LeaseRecord(
        repository=m["repository"],
        holder=m["holder"],
        previous_holder=m["previous_holder"],
        epoch=int(m["epoch"]),
        acquired_at=m["acquired_at"],
        renewed_at=m["renewed_at"],
        expires_at=m["expires_at"],
    )
