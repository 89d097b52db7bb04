"""Moving a store from SQLite to PostgreSQL: ``truenorth store migrate --to postgresql://...``.

A team that starts on the embedded SQLite store and later wants several replicas moves
its history to PostgreSQL once, with the controller stopped. :func:`copy_store` opens
both stores (each migrated to the newest schema), refuses a target that already holds
runs or stacks, and copies, in one transaction on the target: every run (ids kept, so
URLs to runs stay valid), every run log line, every stack state, every recorded
output (sealed values stay sealed: the target needs the same sealing key) and every
shared engine state file: those of ``stack_files`` and, from ``files``, those a single
controller keeps only in its data dir's state dirs (the Kubernetes inventories), the
merge requests the controller acts on (open, or merged and not yet reported) and the drifts
it announced (so none is announced again). Then the target's id sequences are moved past
the copied ids. Replicas, leases, requests and publications are
not copied: they describe running controllers, and a new start makes them again.

Rows are read and written in batches (shared files, up to 4 MiB each, a few at a
time), so a large history never sits in memory at once;
a failure leaves the target as empty as it was (the transaction rolls back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from truenorth.store import database, errors, filing, records, schema

__all__ = ["BATCH", "COPIED_TABLES", "Copied", "FileItem", "FileSource", "copy_store"]

#: One shared engine state file: repository key, stack, file name, content.
FileItem = tuple[str, str, str, bytes]
#: The shared files of the source's stacks (given their records) that are not in its store.
FileSource = Callable[[list[records.StackRecord]], Iterable[FileItem]]

#: Rows per read and per insert.
BATCH = 2000
#: The tables copied, in an order their foreign keys accept.
COPIED_TABLES = (
    "runs",
    "run_logs",
    "stacks",
    "stack_outputs",
    "stack_files",
    "merge_requests",
    "drift_announcements",
)
# Rows per batch of the tables whose rows are large (a shared file holds up to 4 MiB).
_SMALL_BATCHES = {"stack_files": 16}
# Move PostgreSQL's id sequences past the copied ids.
_RESET_SEQUENCES = (
    "SELECT setval(pg_get_serial_sequence('runs', 'id'), COALESCE((SELECT max(id) FROM runs), 0) + 1, false)",
    "SELECT setval(pg_get_serial_sequence('requests', 'id'), "
    "COALESCE((SELECT max(id) FROM requests), 0) + 1, false)",
)


@dataclass(frozen=True)
class Copied:
    """How many rows of each table were copied."""

    counts: dict[str, int]


def copy_store(
    source_url: str,
    target_url: str,
    *,
    progress: Callable[[str, int], None] | None = None,
    files: FileSource | None = None,
) -> Copied:
    """Copy the store at ``source_url`` into the empty store at ``target_url``.

    :class:`~truenorth.store.errors.StoreError` when either cannot be opened, the target
    is not empty, or the copy fails (nothing is left half-copied). ``progress`` is called
    with a table's name and the rows copied so far. ``files`` gives the shared files
    kept outside the source store (its data dir's), read one at a time and added to
    ``stack_files`` in the same transaction (counted there); an exception it raises
    leaves the target empty too.
    """
    source = database.Store.open(source_url)
    try:
        target = database.Store.open(target_url)
        try:
            return _copy(source, target, progress=progress, files=files)
        finally:
            target.close()
    finally:
        source.close()


def _copy(
    source: database.Store,
    target: database.Store,
    *,
    progress: Callable[[str, int], None] | None,
    files: FileSource | None,
) -> Copied:
    if source.url == target.url:
        raise errors.StoreError(f"cannot copy the store {source.url} onto itself")
    tables = schema.Base.metadata.tables
    counts: dict[str, int] = {}
    with target._guard(f"copy the store {source.url} into {target.url}"), target._writing() as out:
        for name in ("runs", "stacks", "stack_outputs", "stack_files"):
            if out.execute(sa.select(sa.func.count()).select_from(tables[name])).scalar_one():
                raise errors.StoreError(
                    f"cannot copy into {target.url}: it already holds {name}; copy only into an empty store"
                )
        with source._guard(f"read the store {source.url}"), source._reading() as src:
            for name in COPIED_TABLES:
                table = tables[name]
                copied = 0
                for found in _batches(src, table, size=_SMALL_BATCHES.get(name, BATCH)):
                    rows = [{**row, "plan_id": None} for row in found] if name == "runs" else found
                    out.execute(sa.insert(table), rows)
                    copied += len(rows)
                    if progress is not None:
                        progress(name, copied)
                counts[name] = copied
            # Plans are linked after every run exists: an apply's plan may be any run.
            runs = tables["runs"]
            linked = src.execute(
                sa.select(runs.c.id, runs.c.plan_id).where(runs.c.plan_id.is_not(None))
            ).all()
        if files is not None:
            for repository, stack, name, content in files(source.list_stacks()):
                if not filing.put(
                    out, repository=repository, stack=stack, name=name, content=content, now=target._now()
                ):
                    continue  # the source store held that very file
                counts["stack_files"] += 1
                if progress is not None:
                    progress("stack_files", counts["stack_files"])
        for start in range(0, len(linked), BATCH):
            out.execute(
                sa.update(runs).where(runs.c.id == sa.bindparam("run")).values(plan_id=sa.bindparam("plan")),
                [{"run": run, "plan": plan} for run, plan in linked[start : start + BATCH]],
            )
        if out.dialect.name == "postgresql":
            for statement in _RESET_SEQUENCES:
                out.execute(sa.text(statement))
    return Copied(counts=counts)


def _batches(connection: sa.Connection, table: sa.Table, *, size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``table`` in primary-key order, ``size`` at a time (keyset paging)."""
    key = list(table.primary_key.columns)
    after: tuple[Any, ...] | None = None
    while True:
        query = sa.select(table).order_by(*key).limit(size)
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        found = [dict(row._mapping) for row in connection.execute(query)]
        if not found:
            return
        yield found
        after = tuple(found[-1][column.name] for column in key)
