"""Work routed through the database to a repository's owner: webhooks and actions.

With several replicas, a webhook or an API action (refresh, sync, approve, rollback)
may reach a replica that does not hold the repository's lease. That replica writes a
row in ``requests`` and notifies ``REQUESTS_CHANNEL`` (``store/signalling.py``); the
owner takes the pending requests of the repositories it holds (one atomic UPDATE, so
two replicas never take one request), works on them and writes the outcome, then
notifies ``ANSWERS_CHANNEL`` so the asking replica can answer its caller. A request
taken by a replica that died is ended as failed by the replica that takes the lease
over (:func:`abandon`): its caller sees it failed, never silently re-run.

Functions take a connection in the store's write (or read) transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from truenorth.store import checks, leasing, records, schema
from truenorth.store.schema import RequestRow

__all__ = [
    "ANSWERS_CHANNEL",
    "INTERRUPTED",
    "MAX_ARGUMENT_BYTES",
    "REQUESTS_CHANNEL",
    "abandon",
    "add",
    "finish",
    "get",
    "notice_payload",
    "prune",
    "take",
]

#: The owner listens here: ``{"id": N, "repository": KEY}``.
REQUESTS_CHANNEL = "truenorth_requests"
#: The asker listens here: the id of a request that ended.
ANSWERS_CHANNEL = "truenorth_answers"
#: The error of a request whose taker died.
INTERRUPTED = "interrupted: the controller working on it stopped"
#: Bound of a request's arguments and of its outcome (JSON).
MAX_ARGUMENT_BYTES = 16 * 1024
_MAX_TAKE = 1000


def add(
    connection: sa.Connection,
    clock: leasing.Clock,
    *,
    repository: str,
    stack: str,
    action: str,
    arguments: Mapping[str, Any] | None,
    actor: str | None,
    requested_by: str,
    dedup: str | None = None,
    taken_by: str | None = None,
) -> int | None:
    """Record a pending request (``taken_by``: already taken by that replica); return its id.

    ``dedup`` (a forge's delivery id): None, and nothing recorded, when ``repository``
    already has a request with that key (a redelivery, whichever replica it reached).
    """
    values = {
        "repository": leasing.repository_key(repository),
        "stack": checks.bounded(stack, what="a stack name", limit=schema.STACK_LENGTH, empty=True),
        "action": checks.choice(action, records.REQUEST_ACTIONS, what="request action"),
        "arguments": _small(arguments, what="the request's arguments"),
        "actor": None if actor is None else checks.bounded(actor, what="actor", limit=schema.NAME_LENGTH),
        "requested_by": leasing.replica_id(requested_by),
        "requested_at": clock.now(),
        "status": "pending",
        "outcome": {},
    }
    if taken_by is not None:
        values.update(status="taken", taken_by=leasing.replica_id(taken_by), taken_at=values["requested_at"])
    if dedup is None:
        return int(
            connection.execute(sa.insert(RequestRow).values(**values).returning(RequestRow.id)).scalar_one()
        )
    values["dedup"] = checks.bounded(dedup, what="a delivery id", limit=schema.NAME_LENGTH)
    statement = (
        _insert(connection)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["repository", "dedup"])
        .returning(RequestRow.id)
    )
    found = connection.execute(statement).scalar_one_or_none()
    return None if found is None else int(found)


def _insert(connection: sa.Connection) -> Any:
    """The dialect's INSERT that can skip a row whose unique key exists (``ON CONFLICT``)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # imported only on PostgreSQL

        return postgresql.insert(RequestRow)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(RequestRow)


def notice_payload(request_id: int, repository: str) -> str:
    """What :data:`REQUESTS_CHANNEL` carries for one request (bounded JSON)."""
    return json.dumps({"id": request_id, "repository": repository[: schema.REPOSITORY_LENGTH]})


def take(
    connection: sa.Connection,
    clock: leasing.Clock,
    *,
    replica: str,
    repositories: Sequence[str],
    limit: int = 100,
) -> list[records.RequestRecord]:
    """Take up to ``limit`` pending requests of ``repositories`` for ``replica``, oldest first."""
    if isinstance(repositories, str):
        raise ValueError("take needs a sequence of repository keys, not one string")
    wanted = sorted({leasing.repository_key(r) for r in repositories})
    if not wanted:
        return []
    if not 1 <= limit <= _MAX_TAKE:
        raise ValueError(f"limit must be 1..{_MAX_TAKE}, got {limit}")
    pending = (
        sa.select(RequestRow.id)
        .where(RequestRow.status == "pending", RequestRow.repository.in_(wanted))
        .order_by(RequestRow.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    statement = (
        sa.update(RequestRow)
        .where(RequestRow.id.in_(pending.scalar_subquery()), RequestRow.status == "pending")
        .values(status="taken", taken_by=leasing.replica_id(replica), taken_at=clock.now())
        .returning(*RequestRow.__table__.c)
    )
    found = [_record(row) for row in connection.execute(statement)]
    return sorted(found, key=lambda request: request.id)


def finish(
    connection: sa.Connection,
    clock: leasing.Clock,
    request_id: int,
    *,
    status: str,
    outcome: Mapping[str, Any] | None,
) -> bool:
    """End a pending or taken request as ``done`` or ``failed``; False if it had ended."""
    ended = checks.choice(status, ("done", "failed"), what="request outcome")
    result = connection.execute(
        sa.update(RequestRow)
        .where(RequestRow.id == request_id, RequestRow.status.in_(("pending", "taken")))
        .values(status=ended, finished_at=clock.now(), outcome=_small(outcome, what="the request's outcome"))
    )
    return bool(result.rowcount)


def get(connection: sa.Connection, request_id: int) -> records.RequestRecord | None:
    row = connection.execute(sa.select(RequestRow).where(RequestRow.id == request_id)).one_or_none()
    return None if row is None else _record(row)


def abandon(connection: sa.Connection, clock: leasing.Clock, *, holder: str, repository: str) -> list[int]:
    """End as failed every request of ``repository`` that ``holder`` (gone) had taken."""
    statement = (
        sa.update(RequestRow)
        .where(
            RequestRow.status == "taken",
            RequestRow.taken_by == leasing.replica_id(holder),
            RequestRow.repository == leasing.repository_key(repository),
        )
        .values(status="failed", finished_at=clock.now(), outcome={"error": INTERRUPTED})
        .returning(RequestRow.id)
    )
    return sorted(int(found) for found in connection.execute(statement).scalars())


def prune(connection: sa.Connection, clock: leasing.Clock, *, older_than: float) -> int:
    """Delete ended requests that ended more than ``older_than`` seconds ago; how many."""
    seconds = leasing.duration(older_than, what="request retention")
    result = connection.execute(
        sa.delete(RequestRow).where(
            RequestRow.status.in_(("done", "failed")), RequestRow.finished_at < clock.after(-seconds)
        )
    )
    return int(result.rowcount)


def _small(value: Mapping[str, Any] | None, *, what: str) -> dict[str, Any]:
    checked = checks.json_object(value, what=what)
    if len(json.dumps(checked)) > MAX_ARGUMENT_BYTES:
        raise ValueError(f"{what} take more than {MAX_ARGUMENT_BYTES} bytes of JSON")
    return checked


def _record(row: sa.Row[Any]) -> records.RequestRecord:
    m = row._mapping
    return records.RequestRecord(
        **{name: m[name] for name in records.RequestRecord.__dataclass_fields__}  # same names as the columns
    )
