"""Stack files: engine state files kept in the store so that any replica can use them.

Issue 14: nothing a replica needs may live only on another replica's disk. Some engines
keep state in the stack's state dir (the Kubernetes inventory: what truenorth applied,
which drives pruning); with several replicas the next operation on a stack may run on
another replica, so the controller keeps a copy of each such file in ``stack_files``
(``controller/runs/carrying.py`` writes it into the state dir before an operation and
puts it back after). The engines never see the store.

A file is named by a plain file name (no folder, no ``..``; :func:`file_name`), holds
at most :data:`MAX_FILE_BYTES`, and is written only when its digest changed, so an
operation that changed nothing costs no write. Functions take a connection in the
store's read or write transaction; bad arguments raise ``ValueError``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from truenorth.store import checks, records, schema
from truenorth.store.schema import StackFileRow

__all__ = ["MAX_FILE_BYTES", "delete", "digest_of", "file_name", "files", "put"]

#: The most bytes one shared file may hold (an inventory of tens of thousands of objects).
MAX_FILE_BYTES = 4 * 1024 * 1024
# Letters, digits, dot, underscore and dash, not starting with a dot: never a path,
# never "." or "..", never hidden (the state dir's temporary files start with a dot).
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def file_name(value: object) -> str:
    """``value`` if it is a plain file name a stack file may have, else ``ValueError``."""
    name = checks.bounded(value, what="a stack file name", limit=schema.NAME_LENGTH)
    if _NAME.fullmatch(name) is None:
        raise ValueError(
            f"a stack file name is a plain file name (letters, digits, '.', '_', '-', not starting "
            f"with '.'; no folder): {name[:60]!r} is not"
        )
    return name


def digest_of(content: bytes) -> str:
    """The SHA-256 of ``content``, hex (what ``digest`` holds)."""
    return hashlib.sha256(content).hexdigest()


def files(connection: sa.Connection, *, repository: str, stack: str) -> list[records.StackFileRecord]:
    """Every file kept for ``stack`` of ``repository``, by name."""
    query = (
        sa.select(StackFileRow).where(*_where(repository=repository, stack=stack)).order_by(StackFileRow.name)
    )
    return [_record(row) for row in connection.execute(query)]


def put(
    connection: sa.Connection,
    *,
    repository: str,
    stack: str,
    name: str,
    content: bytes,
    now: datetime,
) -> bool:
    """Keep ``content`` as the file ``name`` of the stack; False (nothing written) when the
    store already holds exactly that. One ``INSERT ... ON CONFLICT DO UPDATE WHERE`` the
    digest differs."""
    if not isinstance(content, bytes):
        raise ValueError(f"a stack file's content must be bytes, got {type(content).__name__}")
    key = _key(repository=repository, stack=stack, name=name)
    if len(content) > MAX_FILE_BYTES:
        raise ValueError(
            f"the file {key['name']} of stack {key['stack']!r} is {len(content)} bytes: the store keeps "
            f"at most {MAX_FILE_BYTES} bytes ({MAX_FILE_BYTES // (1024 * 1024)} MiB) per file"
        )
    values = {**key, "content": content, "digest": digest_of(content), "updated_at": now}
    insert = _insert(connection.dialect.name)(StackFileRow).values(**values)
    statement = insert.on_conflict_do_update(
        index_elements=list(key),
        set_={column: insert.excluded[column] for column in ("content", "digest", "updated_at")},
        where=StackFileRow.digest != insert.excluded.digest,
    ).returning(StackFileRow.name)
    return connection.execute(statement).first() is not None


def delete(connection: sa.Connection, *, repository: str, stack: str, name: str) -> bool:
    """Forget the file ``name`` of the stack; True if the store held it."""
    key = _key(repository=repository, stack=stack, name=name)
    statement = sa.delete(StackFileRow).filter_by(**key).returning(StackFileRow.name)
    return connection.execute(statement).first() is not None


def _key(*, repository: str, stack: str, name: str) -> dict[str, str]:
    return {
        "repository": checks.bounded(repository, what="repository", limit=schema.REPOSITORY_LENGTH),
        "stack": checks.bounded(stack, what="stack name", limit=schema.STACK_LENGTH),
        "name": file_name(name),
    }


def _where(*, repository: str, stack: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        StackFileRow.repository
        == checks.bounded(repository, what="repository", limit=schema.REPOSITORY_LENGTH),
        StackFileRow.stack == checks.bounded(stack, what="stack name", limit=schema.STACK_LENGTH),
    )


def _insert(dialect: str) -> Callable[[Any], Any]:
    # Imported where used (issue 16): an SQLite store never loads the PostgreSQL dialect.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _record(row: sa.Row[Any]) -> records.StackFileRecord:
    mapping = row._mapping
    return records.StackFileRecord(
        repository=mapping["repository"],
        stack=mapping["stack"],
        name=mapping["name"],
        digest=mapping["digest"],
        updated_at=mapping["updated_at"],
        content=bytes(mapping["content"]),
    )
