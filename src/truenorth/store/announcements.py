"""Drift announcements: the stacks whose drift was announced and not yet resolved.

The drift-once rule (``notify/drifts.py``) announces a drift once per episode: the
first check that finds it says ``drift-detected``, the first that finds none after that
``drift-resolved``. Which stacks are in an announced episode was kept in memory, so a
restart, or the repository moving to another replica (issue 14), announced every stack
still drifted again. The controller (``controller/loop/notifying.py``) now keeps it
here, one row per stack in an announced episode (the revision checked and when), so an
episode is announced once whichever replica checks it. Drift checks of one stack hold
its lock, so two replicas never decide one stack's episode at once.

The users' state, like the runs: ``truenorth store migrate`` copies it. Functions take a
connection in the store's read or write transaction; bad arguments raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from truenorth.store import checks, schema
from truenorth.store.schema import DriftAnnouncementRow

__all__ = ["announce", "announced", "resolve"]


def announced(connection: sa.Connection, *, repository: str, stack: str) -> bool:
    """Whether ``stack``'s drift was announced and not resolved since."""
    query = sa.select(DriftAnnouncementRow.stack).where(
        DriftAnnouncementRow.repository == _repository(repository),
        DriftAnnouncementRow.stack == _stack(stack),
    )
    return connection.execute(query).first() is not None


def announce(connection: sa.Connection, *, repository: str, stack: str, revision: str, now: datetime) -> None:
    """Record that ``stack``'s drift (found at ``revision``) was announced."""
    values = {
        "repository": _repository(repository),
        "stack": _stack(stack),
        "revision": checks.bounded(revision, what="revision", limit=schema.REVISION_LENGTH),
        "announced_at": checks.aware(now, what="now"),
    }
    insert = _insert(connection.dialect.name)(DriftAnnouncementRow).values(**values)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["repository", "stack"],
            set_={"revision": insert.excluded.revision, "announced_at": insert.excluded.announced_at},
        )
    )


def resolve(connection: sa.Connection, *, repository: str, stack: str) -> bool:
    """End ``stack``'s announced episode; False when none was recorded."""
    delete = sa.delete(DriftAnnouncementRow).where(
        DriftAnnouncementRow.repository == _repository(repository),
        DriftAnnouncementRow.stack == _stack(stack),
    )
    return bool(connection.execute(delete).rowcount)


def _repository(value: object) -> str:
    return checks.bounded(value, what="repository", limit=schema.REPOSITORY_LENGTH)


def _stack(value: object) -> str:
    return checks.bounded(value, what="stack name", limit=schema.STACK_LENGTH)


def _insert(dialect: str) -> Callable[[Any], Any]:
    # Imported where used (issue 16): an SQLite store never loads the PostgreSQL dialect.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert
