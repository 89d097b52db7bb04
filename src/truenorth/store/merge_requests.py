"""Merge requests: what a repository's owner must know of each open one, kept in the store.

Issue 14: a controller kept the open merge requests of its repositories in memory, so a
restart, or the repository's lease moving to another replica, forgot them: a
``/truenorth plan`` comment then answered "no open merge request known here", and a
merge whose report was still awaited (the reconcile of the merge commit) was never
reported. The owner (``controller/loop/previewing.py``) now writes here what it needs of
each one when an event changes it, and reads it back when an event or a comment arrives:
the forge, the base project, the number, the head commit, branch and repository (a fork's
is another), the target branch, the author and their standing (what the trigger rules
read), the title and link (shown, cut to :data:`schema.SHOWN_LENGTH`), the merge commit,
the id of truenorth's one comment, and the newest routed request acted on (its *order*:
an older event arriving late never overwrites a newer one). A closed merge request is
deleted; a merged one stays ``merged`` until its report is written, so the owner after
a restart or a takeover writes it (``Previews.resume``).

Like the runs, this is the users' state, not a running controller's: ``truenorth store
migrate`` copies it. Nothing secret is kept (no token, no body). Functions take a
connection in the store's read or write transaction; bad arguments raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from truenorth.store import checks, records, schema
from truenorth.store.schema import MergeRequestRow

__all__ = ["MAX_NUMBER", "forget", "note_comment", "of_repositories", "put", "read"]

#: The largest merge-request number or comment id kept (a signed 64-bit column).
MAX_NUMBER = 2**63 - 1
_FORGE_LENGTH = 16


def put(
    connection: sa.Connection,
    *,
    repository: str,
    number: int,
    state: str,
    forge: str,
    project: str,
    head_repo: str,
    head_sha: str,
    head_ref: str,
    target_branch: str,
    author: str,
    author_association: str | None,
    title: str,
    url: str,
    merge_sha: str | None,
    order: int | None,
    holder: str,
    now: datetime,
) -> bool:
    """Record merge request ``number`` of ``repository`` as the newest event says; False
    (nothing written) when an event of a newer ``order`` was recorded already. The comment
    id already recorded is kept."""
    values: dict[str, Any] = {
        "repository": _repository(repository),
        "number": _number(number, what="the merge request's number"),
        "state": checks.choice(state, records.MERGE_REQUEST_STATES, what="merge request state"),
        "forge": checks.bounded(forge, what="forge", limit=_FORGE_LENGTH),
        "project": checks.bounded(project, what="project", limit=schema.TEXT_LENGTH),
        "head_repo": checks.bounded(head_repo, what="head repository", limit=schema.TEXT_LENGTH, empty=True),
        "head_sha": checks.bounded(head_sha, what="head commit", limit=schema.REVISION_LENGTH),
        "head_ref": checks.bounded(head_ref, what="head branch", limit=schema.TEXT_LENGTH, empty=True),
        "target_branch": checks.bounded(target_branch, what="target branch", limit=schema.TEXT_LENGTH),
        "author": checks.bounded(author, what="author", limit=schema.TEXT_LENGTH, empty=True),
        "author_association": None
        if author_association is None
        else checks.bounded(
            author_association, what="author association", limit=schema.TEXT_LENGTH, empty=True
        ),
        "title": _shown(title, what="title")[: schema.SHOWN_LENGTH],
        "url": url if len(_shown(url, what="link")) <= schema.SHOWN_LENGTH else "",
        "merge_sha": None
        if merge_sha is None
        else checks.bounded(merge_sha, what="merge commit", limit=schema.REVISION_LENGTH),
        "comment_id": None,
        "last_order": None if order is None else _number(order, what="the order"),
        "holder": checks.bounded(holder, what="holder", limit=schema.NAME_LENGTH, empty=True),
        "updated_at": checks.aware(now, what="now"),
    }
    table = MergeRequestRow.__table__
    insert = _insert(connection.dialect.name)(table).values(**values)
    kept = ("repository", "number", "comment_id", "last_order")
    changes: dict[str, Any] = {column: insert.excluded[column] for column in values if column not in kept}
    changes["last_order"] = sa.func.coalesce(insert.excluded.last_order, table.c.last_order)
    newer = sa.or_(
        insert.excluded.last_order.is_(None),
        table.c.last_order.is_(None),
        table.c.last_order <= insert.excluded.last_order,
    )
    found = connection.execute(
        insert.on_conflict_do_update(index_elements=["repository", "number"], set_=changes, where=newer)
    )
    return bool(found.rowcount)


def read(connection: sa.Connection, *, repository: str, number: int) -> records.MergeRequestRecord | None:
    """Merge request ``number`` of ``repository`` (None: none is open or awaiting its report)."""
    query = sa.select(*MergeRequestRow.__table__.c).where(
        MergeRequestRow.repository == _repository(repository),
        MergeRequestRow.number == _number(number, what="the merge request's number"),
    )
    row = connection.execute(query).first()
    return None if row is None else _record(row._mapping)


def of_repositories(
    connection: sa.Connection, *, repositories: Sequence[str], state: str | None = None
) -> list[records.MergeRequestRecord]:
    """The merge requests recorded for ``repositories`` (in ``state`` if given), by repository
    and number."""
    keys = sorted({_repository(key) for key in repositories})
    if not keys:
        return []
    query = sa.select(*MergeRequestRow.__table__.c).where(MergeRequestRow.repository.in_(keys))
    if state is not None:
        query = query.where(
            MergeRequestRow.state == checks.choice(state, records.MERGE_REQUEST_STATES, what="state")
        )
    query = query.order_by(MergeRequestRow.repository, MergeRequestRow.number)
    return [_record(row._mapping) for row in connection.execute(query)]


def note_comment(connection: sa.Connection, *, repository: str, number: int, comment_id: int) -> bool:
    """Record the id of truenorth's comment on merge request ``number``; False: not recorded."""
    update = (
        sa.update(MergeRequestRow)
        .where(
            MergeRequestRow.repository == _repository(repository),
            MergeRequestRow.number == _number(number, what="the merge request's number"),
        )
        .values(comment_id=_number(comment_id, what="the comment id"))
    )
    return bool(connection.execute(update).rowcount)


def forget(connection: sa.Connection, *, repository: str, number: int, order: int | None = None) -> bool:
    """Delete merge request ``number`` (closed, or merged and reported); False when it was not
    recorded, or an event of a newer ``order`` was."""
    delete = sa.delete(MergeRequestRow).where(
        MergeRequestRow.repository == _repository(repository),
        MergeRequestRow.number == _number(number, what="the merge request's number"),
    )
    if order is not None:
        delete = delete.where(
            sa.or_(
                MergeRequestRow.last_order.is_(None),
                MergeRequestRow.last_order <= _number(order, what="the order"),
            )
        )
    return bool(connection.execute(delete).rowcount)


def _repository(value: object) -> str:
    return checks.bounded(value, what="repository", limit=schema.REPOSITORY_LENGTH)


def _number(value: object, *, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_NUMBER:
        raise ValueError(f"{what} must be a positive integer of at most 64 bits, got {value!r}")
    return value


def _shown(value: object, *, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"the {what} must be a string, got {type(value).__name__}")
    return checks.storable_text(value)


def _insert(dialect: str) -> Callable[[Any], Any]:
    # Imported where used (issue 16): an SQLite store never loads the PostgreSQL dialect.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _record(row: sa.RowMapping) -> records.MergeRequestRecord:
    return records.MergeRequestRecord(
        repository=row["repository"],
        number=row["number"],
        state=row["state"],
        forge=row["forge"],
        project=row["project"],
        head_repo=row["head_repo"],
        head_sha=row["head_sha"],
        head_ref=row["head_ref"],
        target_branch=row["target_branch"],
        author=row["author"],
        author_association=row["author_association"],
        title=row["title"],
        url=row["url"],
        merge_sha=row["merge_sha"],
        comment_id=row["comment_id"],
        last_order=row["last_order"],
        holder=row["holder"],
        updated_at=row["updated_at"],
    )
