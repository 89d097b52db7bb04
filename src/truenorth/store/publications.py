"""Publications: what a repository's owner knows of it, for the replicas that do not own it.

Issue 14: API reads answer from any replica. Runs, stack states and outputs are in the
store already, but only the replica holding a repository's lease fetches it and loads
its revision; the rest lived only in that replica's memory (which stacks are declared
and with what options, the newest revision, the source error, drift). So the owner
publishes it here, one row per repository, and the others read it
(``controller/actions/reading.py``): the newest valid revision with its ``truenorth.yaml``
text (already validated by the owner, so a reader parses it with the pure
``core.specs.parse_spec`` and needs no checkout), the newest revision seen, the source
and revision errors, the last fetch and check times, the stacks found drifted, and the
details of the commits its views name.

The owner writes only when something in it changed (``controller/loop/reconciling.py``
keeps what it published last), so an idle owner writes nothing. A write is fenced by
the lease: it happens only while the writer holds the repository's lease (the lease row
is read ``FOR SHARE`` in the same transaction, so a takeover waits for it), and a
replica that lost its lease without knowing it yet never overwrites what the new owner
published. Like ``replicas``, ``leases`` and ``requests`` this describes running
controllers: ``truenorth store migrate`` (``store/copying.py``) does not copy it.

Functions take a connection in the store's read or write transaction; bad arguments
raise ``ValueError``. The errors were redacted by the owner where they were made; the
store bounds them (:data:`MAX_ERROR`) and the spec (:data:`MAX_SPEC_BYTES`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from truenorth import texts
from truenorth.store import checks, records, schema
from truenorth.store.schema import LeaseRow, PublicationRow

__all__ = ["MAX_COMMITS", "MAX_ERROR", "MAX_SPEC_BYTES", "publish", "read"]

#: The most bytes of a published ``truenorth.yaml``: the spec parser's own limit
#: (``core.specs.MAX_SPEC_BYTES``; the store may not import core, a test keeps them equal).
MAX_SPEC_BYTES = 1024 * 1024
#: The most characters of a published error kept (longer ones are cut, saying so).
MAX_ERROR = 64 * 1024
#: The most commits one publication names (one per stack's applied revision, plus two).
MAX_COMMITS = 10_000
#: The most stacks named drifted.
_MAX_DRIFTED = 10_000


def publish(
    connection: sa.Connection,
    *,
    repository: str,
    holder: str,
    valid_revision: str | None,
    desired_revision: str | None,
    spec_text: str | None,
    source_error: str | None,
    revision_error: str | None,
    last_fetch_at: datetime | None,
    last_check_at: datetime | None,
    drifted: Iterable[str],
    commits: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> bool:
    """Publish what ``holder`` knows of ``repository``; False (nothing written) when ``holder``
    does not hold its lease. One lease read (``FOR SHARE``) and one upsert."""
    values = {
        "repository": checks.bounded(repository, what="repository", limit=schema.REPOSITORY_LENGTH),
        "holder": checks.bounded(holder, what="holder", limit=schema.NAME_LENGTH),
        "valid_revision": _revision(valid_revision, what="the valid revision"),
        "desired_revision": _revision(desired_revision, what="the desired revision"),
        "spec_text": _spec(spec_text),
        "source_error": _error(source_error, what="the source error"),
        "revision_error": _error(revision_error, what="the revision error"),
        "last_fetch_at": _time(last_fetch_at, what="last_fetch_at"),
        "last_check_at": _time(last_check_at, what="last_check_at"),
        "drifted": _drifted(drifted),
        "commits": _commits(commits),
        "updated_at": checks.aware(now, what="now"),
    }
    lease = (
        sa.select(LeaseRow.holder)
        .where(LeaseRow.repository == values["repository"])
        .with_for_update(read=True)
    )
    if connection.execute(lease).scalar_one_or_none() != values["holder"]:
        return False
    insert = _insert(connection.dialect.name)(PublicationRow).values(**values)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["repository"],
            set_={column: insert.excluded[column] for column in values if column != "repository"},
        )
    )
    return True


def read(
    connection: sa.Connection, *, repositories: Sequence[str], known_specs: Collection[str] = ()
) -> dict[str, records.PublicationRecord]:
    """The publications of ``repositories`` by repository, in one query.

    A publication whose valid revision is in ``known_specs`` (SHAs whose spec the reader
    has parsed already) comes without its ``spec_text``: a spec crosses the wire once.
    """
    keys = sorted(
        {checks.bounded(key, what="repository", limit=schema.REPOSITORY_LENGTH) for key in repositories}
    )
    if not keys:
        return {}
    known = sorted(set(known_specs))
    spec: sa.ColumnElement[Any] = (
        sa.case((PublicationRow.valid_revision.in_(known), sa.null()), else_=PublicationRow.spec_text)
        if known
        else PublicationRow.__table__.c.spec_text
    )
    query = sa.select(
        *(column for column in PublicationRow.__table__.c if column.name != "spec_text"),
        spec.label("spec_text"),
    ).where(PublicationRow.repository.in_(keys))
    return {row.repository: _record(row._mapping) for row in connection.execute(query)}


def _revision(value: object, *, what: str) -> str | None:
    return None if value is None else checks.bounded(value, what=what, limit=schema.REVISION_LENGTH)


def _spec(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"the spec text must be a string, got {type(value).__name__}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise ValueError(
            f"the spec text is {size} bytes: a truenorth.yaml holds at most {MAX_SPEC_BYTES} bytes"
        )
    return checks.storable_text(value)


def _error(value: object, *, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return checks.storable_text(texts.bound(value, MAX_ERROR)) or None


def _time(value: object, *, what: str) -> datetime | None:
    return None if value is None else checks.aware(value, what=what)


def _drifted(names: Iterable[str]) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ValueError(f"the drifted stacks must be a list of names, got {type(names).__name__}")
    found = sorted({checks.bounded(name, what="stack name", limit=schema.STACK_LENGTH) for name in names})
    if len(found) > _MAX_DRIFTED:
        raise ValueError(f"at most {_MAX_DRIFTED} stacks can be drifted, got {len(found)}")
    return found


def _commits(commits: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    checked = checks.json_object(commits, what="the commits")
    if len(checked) > MAX_COMMITS:
        raise ValueError(f"a publication names at most {MAX_COMMITS} commits, got {len(checked)}")
    for sha, details in checked.items():
        checks.bounded(sha, what="a commit SHA", limit=schema.REVISION_LENGTH)
        if not isinstance(details, Mapping):
            raise ValueError(
                f"the details of commit {sha[:12]} must be a mapping, got {type(details).__name__}"
            )
    return checked


def _insert(dialect: str) -> Callable[[Any], Any]:
    # Imported where used (issue 16): an SQLite store never loads the PostgreSQL dialect.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _record(row: sa.RowMapping) -> records.PublicationRecord:
    commits = row["commits"] if isinstance(row["commits"], dict) else {}
    return records.PublicationRecord(
        repository=row["repository"],
        holder=row["holder"],
        valid_revision=row["valid_revision"],
        desired_revision=row["desired_revision"],
        source_error=row["source_error"],
        revision_error=row["revision_error"],
        last_fetch_at=row["last_fetch_at"],
        last_check_at=row["last_check_at"],
        drifted=tuple(str(name) for name in row["drifted"] or ()),
        commits={str(sha): dict(details) for sha, details in commits.items() if isinstance(details, dict)},
        updated_at=row["updated_at"],
        spec_text=row["spec_text"],
    )
