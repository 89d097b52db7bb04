"""The store: the one record of what happened, on SQLite or PostgreSQL.

Every plan, apply and drift check becomes a row in ``runs`` when it starts and is
finished exactly once; its live output is appended to ``run_logs``; the controller's
current view of each stack is kept in ``stacks``; controllers sharing a PostgreSQL
store coordinate through ``replicas``, ``leases``, ``requests``, per-stack advisory
locks and LISTEN/NOTIFY (the sections "Replicas and leases" and "Routing" below); the outputs of each stack's last
successful apply in ``stack_outputs`` (a sensitive one sealed with the store's
:class:`~truenorth.store.sealing.Sealer`, never in clear); the engine state files
replicas share (the Kubernetes inventories) in ``stack_files``; what each repository's
owner knows of it, for the replicas that do not own it, in ``publications``; the merge
requests an owner acts on in ``merge_requests`` and the drifts announced in
``drift_announcements``. The store sits below ``truenorth.core``
(it must not import it): it takes and returns plain JSON-compatible values that the
controller has already redacted, and frozen :mod:`~truenorth.store.records`.

Opening a store creates the engine and migrates the schema to the newest revision.
Methods are synchronous and thread-safe (each uses its own pooled connection); write
transactions on SQLite start with ``BEGIN IMMEDIATE`` so that concurrent writers wait
for each other within the busy timeout. Every database failure is raised as
:class:`~truenorth.store.errors.StoreError` whose message says what could not be done
and why ("database is locked", "disk full") and never contains a password.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from truenorth.store import (
    announcements,
    checks,
    connecting,
    errors,
    filing,
    leasing,
    locking,
    merge_requests,
    migrating,
    publications,
    records,
    requesting,
    rows,
    sealing,
    signalling,
    urls,
)
from truenorth.store.schema import RunLogRow, RunRow, StackOutputRow, StackRow
from truenorth.store.urls import sqlite_url

__all__ = ["INTERRUPTED_ERROR", "Store", "sqlite_url"]

#: The error text of a run found in flight after its controller stopped.
INTERRUPTED_ERROR = "interrupted: the controller stopped before the run finished"
_MAX_PAGE = 10_000
_StatusFilter = str | Iterable[str] | None


def _json_texts(texts: Sequence[str], dialect: str) -> sa.Select[tuple[Any]]:
    """The texts of one JSON array parameter as a subquery, for ``column IN (...)`` over
    thousands of texts in one bound parameter (never one parameter per text)."""
    array = json.dumps(list(texts))
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # only on PostgreSQL: SQLite stores never import it

        elements = sa.func.jsonb_array_elements_text(sa.cast(sa.literal(array, sa.Text), postgresql.JSONB))
    else:
        elements = sa.func.json_each(array)
    return sa.select(elements.table_valued("value").c.value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """Run history, run logs and stack state in one database. Open with :meth:`open`."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        shown_url: str,
        secrets: Sequence[str],
        clock: Callable[[], datetime],
        sealer: sealing.Sealer | None = None,
    ) -> None:
        self._engine = engine
        self._shown_url = shown_url
        self._secrets = tuple(secrets)
        self._clock = clock
        self._sealer = sealer
        self._closed = False
        self._hub = signalling.LocalHub()
        self._sessions: sa.Engine | None = None
        self._watcher: Callable[[str], None] | None = None

    @classmethod
    def open(
        cls,
        url: str,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        sealer: sealing.Sealer | None = None,
    ) -> Store:
        """Connect to ``url`` (``sqlite:///PATH`` or ``postgresql://...``) and migrate it.

        ``busy_timeout`` is how long a SQLite writer waits for another one (seconds);
        ``clock`` returns the current aware UTC time (for tests); ``sealer`` seals
        sensitive outputs (without one, storing a sensitive output is refused).
        """
        secrets = urls.url_secrets(url)
        parsed = urls.database_url(url)
        shown = urls.redact_url(parsed)
        try:
            connecting.ensure_parent(parsed)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise errors.StoreError(
                f"cannot create the directory {exc.filename} for the state database {shown}: {reason}"
            ) from None
        engine = connecting.create_engine(parsed, busy_timeout=busy_timeout)
        store = cls(engine, shown_url=shown, secrets=secrets, clock=clock or _utcnow, sealer=sealer)
        try:
            with (
                store._guard("open the state database and bring its schema up to date"),
                store._writing() as conn,
            ):
                migrating.upgrade(conn)
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with credentials masked."""
        return self._shown_url

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release every connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()
        if self._sessions is not None:
            self._sessions.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._shown_url})"

    # Runs -------------------------------------------------------------------------

    def start_run(
        self,
        *,
        stack: str,
        repository: str,
        revision: str,
        kind: str,
        actor: str | None = None,
        reason: str | None = None,
        plan_id: int | None = None,
        holder: str | None = None,
    ) -> int:
        """Record that a run starts now (status ``running``); return its id."""
        values = rows.run_identity(
            stack=stack, repository=repository, revision=revision, kind=kind, actor=actor, reason=reason
        )
        values.update(
            status="running",
            started_at=self._now(),
            finished_at=None,
            summary={},
            changes=[],
            hosts=[],
            output="",
            error="",
            plan_id=rows.optional_id(plan_id, what="plan_id"),
            holder=rows.optional_name(holder, what="holder"),
        )
        return self._insert_run(
            f"record the start of a {values['kind']} run of stack {values['stack']!r}", values
        )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        summary: Mapping[str, Any] | None = None,
        changes: Iterable[Any] | None = None,
        hosts: Iterable[Any] | None = None,
        output: str = "",
        error: str = "",
    ) -> None:
        """Record the end of a running run. A finished run is never changed again."""
        values = rows.run_outcome(
            status=status, summary=summary, changes=changes, hosts=hosts, output=output, error=error
        )
        values["finished_at"] = self._now()
        with self._guard(f"record the end of run {run_id}"), self._writing() as conn:
            ended = conn.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.in_(records.ACTIVE_STATUSES))
                .values(**values)
                .returning(RunRow.repository)
            ).scalar_one_or_none()
            if ended is None:
                current = conn.execute(
                    sa.select(RunRow.status).where(RunRow.id == run_id)
                ).scalar_one_or_none()
                if current is None:
                    raise errors.StoreError(f"cannot record the end of run {run_id}: there is no such run")
                raise errors.StoreError(
                    f"cannot record the end of run {run_id}: it already ended as {current} "
                    "(a finished run is never changed)"
                )
        self._changed(str(ended))

    def record_run(
        self,
        *,
        stack: str,
        repository: str,
        revision: str,
        kind: str,
        status: str,
        summary: Mapping[str, Any] | None = None,
        changes: Iterable[Any] | None = None,
        hosts: Iterable[Any] | None = None,
        output: str = "",
        error: str = "",
        actor: str | None = None,
        reason: str | None = None,
        plan_id: int | None = None,
        holder: str | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> int:
        """Insert a run that already finished (a skipped stack, say); return its id."""
        values = rows.run_identity(
            stack=stack, repository=repository, revision=revision, kind=kind, actor=actor, reason=reason
        )
        values.update(
            rows.run_outcome(
                status=status, summary=summary, changes=changes, hosts=hosts, output=output, error=error
            )
        )
        now = self._now()
        start = checks.aware(started_at, what="started_at") if started_at is not None else now
        end = checks.aware(finished_at, what="finished_at") if finished_at is not None else max(now, start)
        if end < start:
            raise ValueError(f"finished_at {end.isoformat()} is before started_at {start.isoformat()}")
        values.update(
            started_at=start,
            finished_at=end,
            plan_id=rows.optional_id(plan_id, what="plan_id"),
            holder=rows.optional_name(holder, what="holder"),
        )
        return self._insert_run(
            f"record a {values['status']} {values['kind']} run of stack {values['stack']!r}", values
        )

    def get_run(self, run_id: int) -> records.RunRecord | None:
        """The run with this id, or None."""
        with self._guard(f"read run {run_id}"), self._reading() as conn:
            row = conn.execute(sa.select(RunRow).where(RunRow.id == run_id)).one_or_none()
        return None if row is None else rows.run_record(row)

    def list_runs(
        self,
        *,
        stack: str | None = None,
        repository: str | None = None,
        kind: str | None = None,
        status: _StatusFilter = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[records.RunRecord]:
        """Runs matching every given filter, newest first; ``status`` may be several."""
        if not 1 <= limit <= _MAX_PAGE or offset < 0:
            raise ValueError(
                f"limit must be 1..{_MAX_PAGE} and offset >= 0, got limit={limit} offset={offset}"
            )
        where = rows.run_filters(stack=stack, repository=repository, kind=kind, statuses=status)
        query = sa.select(RunRow).where(*where).order_by(*rows.NEWEST_FIRST).limit(limit).offset(offset)
        with self._guard("list runs"), self._reading() as conn:
            return [rows.run_record(row) for row in conn.execute(query)]

    def count_runs(
        self,
        *,
        stack: str | None = None,
        repository: str | None = None,
        kind: str | None = None,
        status: _StatusFilter = None,
    ) -> int:
        """How many runs match every given filter (for paging)."""
        where = rows.run_filters(stack=stack, repository=repository, kind=kind, statuses=status)
        with self._guard("count runs"), self._reading() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(RunRow).where(*where)).scalar_one()
            )

    def last_run(
        self,
        *,
        repository: str,
        stack: str,
        kind: str | None = None,
        statuses: _StatusFilter = None,
    ) -> records.RunRecord | None:
        """The newest run of ``stack`` in ``repository`` (of ``kind``, in ``statuses``)."""
        where = rows.run_filters(stack=stack, repository=repository, kind=kind, statuses=statuses)
        query = sa.select(RunRow).where(*where).order_by(*rows.NEWEST_FIRST).limit(1)
        with self._guard(f"read the last run of stack {stack!r}"), self._reading() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else rows.run_record(row)

    def deployed_revision(self, *, repository: str, stack: str) -> str | None:
        """The revision the stack is applied at: its recorded applied revision, else the
        revision of the newest apply that succeeded or partly succeeded.

        The stack's record wins because an apply interrupted by a controller's death may
        turn out to have completed (the plan after the restart finds nothing to change):
        that revision is then recorded as applied on the stack, while the run stays
        ``interrupted`` (a finished run is never changed).
        """
        record = self.get_stack(repository=repository, name=stack)
        if record is not None and record.applied_revision:
            return record.applied_revision
        last = self.last_run(
            repository=repository, stack=stack, kind="apply", statuses=records.DEPLOYED_STATUSES
        )
        return None if last is None else last.revision

    def mark_interrupted(
        self,
        *,
        holder: str | None = None,
        run_ids: Iterable[int] | None = None,
        repository: str | None = None,
    ) -> list[int]:
        """End every run still pending or running as interrupted: only ``holder``'s, only
        those in ``run_ids`` and only ``repository``'s, when given.

        Called when a controller starts: whatever its data dir's previous process had in
        flight died with it (crash recovery picks those runs by their holder); and by a
        replica taking over an expired lease, for the runs the dead replica held in that
        repository (``LeaseRecord.taken_over_from``) and nobody else's. Returns the
        ids of the runs marked, in ascending order; a run that finished meanwhile is left.
        """
        statement = (
            sa.update(RunRow)
            .where(RunRow.status.in_(records.ACTIVE_STATUSES))
            .values(
                status="interrupted",
                finished_at=self._now(),
                error=sa.case((RunRow.error == "", sa.literal(INTERRUPTED_ERROR)), else_=RunRow.error),
            )
            .returning(RunRow.id, RunRow.repository)
        )
        if holder is not None:
            statement = statement.where(RunRow.holder == holder)
        if repository is not None:
            statement = statement.where(RunRow.repository == repository)
        if run_ids is not None:
            wanted = sorted(
                {found for run_id in run_ids if (found := rows.optional_id(run_id, what="run_ids"))}
            )
            if not wanted:
                return []
            statement = statement.where(RunRow.id.in_(wanted))
        with self._guard("mark interrupted runs"), self._writing() as conn:
            marked = conn.execute(statement).all()
        self._changed(*sorted({str(row.repository) for row in marked}))
        return sorted(int(row.id) for row in marked)

    # Live logs --------------------------------------------------------------------

    def append_log(self, run_id: int, lines: Sequence[str]) -> None:
        """Append ``lines`` to the run's log, numbered after the lines already there."""
        if isinstance(lines, str):
            raise ValueError("append_log takes a sequence of lines, not one string")
        clean = [rows.log_line(line) for line in lines]
        if not clean:
            return
        with self._guard(f"append {len(clean)} line(s) to the log of run {run_id}"), self._writing() as conn:
            # Locks the run's row on PostgreSQL so that concurrent appenders number in turn.
            found = conn.execute(sa.select(RunRow.id).where(RunRow.id == run_id).with_for_update()).scalar()
            if found is None:
                raise errors.StoreError(f"cannot append to the log of run {run_id}: there is no such run")
            last = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(RunLogRow.seq), 0)).where(RunLogRow.run_id == run_id)
            ).scalar_one()
            conn.execute(
                sa.insert(RunLogRow),
                [
                    {"run_id": run_id, "seq": int(last) + n, "line": line}
                    for n, line in enumerate(clean, start=1)
                ],
            )

    def read_log(self, run_id: int, *, after_seq: int = 0, limit: int | None = None) -> list[tuple[int, str]]:
        """The run's log lines numbered after ``after_seq``, as ``(seq, line)`` in order."""
        query = (
            sa.select(RunLogRow.seq, RunLogRow.line)
            .where(RunLogRow.run_id == run_id, RunLogRow.seq > after_seq)
            .order_by(RunLogRow.seq)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._guard(f"read the log of run {run_id}"), self._reading() as conn:
            return [(int(seq), str(line)) for seq, line in conn.execute(query)]

    def check_writable(self) -> None:
        """Commit a write that changes nothing; :class:`StoreError` when the database refuses writes.

        Reads can work while writes fail (a read-only file or file system, a full disk), so
        a read says nothing about whether runs can be recorded: this rewrites the schema
        version row as it is, a real committed write on SQLite and PostgreSQL alike.
        """
        with self._guard("write to the state database"), self._writing() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))

    # Stack state ------------------------------------------------------------------

    def upsert_stack(self, *, repository: str, name: str, **fields: Any) -> records.StackRecord:
        """Create or update a stack's state with ``fields`` (see ``records.STACK_FIELDS``).

        Fields not given keep their value (or their default for a new stack);
        ``error=None`` clears the error. Returns the stored record.
        """
        key = rows.stack_key(repository=repository, name=name)
        changed = rows.stack_fields(fields)
        changed["updated_at"] = self._now()
        with self._guard(f"update the state of stack {key['name']!r}"), self._writing() as conn:
            conn.execute(rows.stack_upsert(conn.dialect.name, key=key, changed=changed))
            row = conn.execute(sa.select(StackRow).filter_by(**key)).one()
        self._changed(key["repository"])
        return rows.stack_record(row)

    def get_stack(self, *, repository: str, name: str) -> records.StackRecord | None:
        """The state of one stack, or None if it was never recorded."""
        with self._guard(f"read the state of stack {name!r}"), self._reading() as conn:
            row = conn.execute(sa.select(StackRow).filter_by(repository=repository, name=name)).one_or_none()
        return None if row is None else rows.stack_record(row)

    def list_stacks(self, *, repository: str | None = None) -> list[records.StackRecord]:
        """Every recorded stack (of ``repository`` if given), by repository then name."""
        query = sa.select(StackRow).order_by(StackRow.repository, StackRow.name)
        if repository is not None:
            query = query.where(StackRow.repository == repository)
        with self._guard("list stacks"), self._reading() as conn:
            return [rows.stack_record(row) for row in conn.execute(query)]

    def stack_states(
        self,
        *,
        repositories: Sequence[str],
        sync_state: str | None = None,
        health_contains: str | None = None,
    ) -> list[records.StackBrief]:
        """Key, engine, sync state and health of every stack of ``repositories``, by repository then name.

        One query over five short columns: what filtering and counting thousands of stacks
        needs, without their errors or runs. ``sync_state`` keeps only the stacks stored with
        exactly that word; ``health_contains`` only those whose health, in lower case,
        contains that (lower-case) text: a filter the caller narrows further, never wider.
        """
        wanted = sorted(set(repositories))
        if not wanted:
            return []
        query = (
            sa.select(
                StackRow.repository, StackRow.name, StackRow.engine, StackRow.sync_state, StackRow.health
            )
            .where(StackRow.repository.in_(wanted))
            .order_by(StackRow.repository, StackRow.name)
        )
        if sync_state is not None:
            query = query.where(StackRow.sync_state == sync_state)
        if health_contains is not None:
            query = query.where(sa.func.lower(StackRow.health).contains(health_contains, autoescape=True))
        with self._guard("list the states of stacks"), self._reading() as conn:
            found = conn.execute(query).tuples().all()
        return [records.StackBrief(*row) for row in found]

    def state_counts(
        self, *, repositories: Mapping[str, Sequence[str] | None]
    ) -> list[tuple[str, str, str, int]]:
        """How many stacks of each repository are stored with each (sync state, health), as
        ``(repository, sync_state, health, count)``: one GROUP BY query.

        ``repositories`` maps a repository to the names of its stacks to count (a stack
        stored under another name is left out; a name never stored is simply not counted),
        or to None to count every stored stack of it. The names travel as one JSON array
        per repository, never one parameter per name.
        """
        whole = sorted(key for key, names in repositories.items() if names is None)
        some = sorted((key, names) for key, names in repositories.items() if names)
        if not whole and not some:
            return []
        with self._guard("count the states of stacks"), self._reading() as conn:
            chosen: list[sa.ColumnElement[bool]] = [StackRow.repository.in_(whole)] if whole else []
            chosen.extend(
                sa.and_(StackRow.repository == key, StackRow.name.in_(_json_texts(names, conn.dialect.name)))
                for key, names in some
            )
            query = (
                sa.select(StackRow.repository, StackRow.sync_state, StackRow.health, sa.func.count())
                .where(sa.or_(*chosen))
                .group_by(StackRow.repository, StackRow.sync_state, StackRow.health)
            )
            found = conn.execute(query).tuples().all()
        return [(str(key), str(state), str(health), int(count)) for key, state, health, count in found]

    def stack_page(self, *, stacks: Sequence[tuple[str, str]]) -> list[records.StackOverview]:
        """The recorded state of each of ``stacks`` (``(repository, name)`` pairs) with its last run in brief.

        One query, the stacks joined with their last runs (never a query per stack), for
        at most 10,000 stacks, each saying whether a run of it is in flight (``active``).
        In the order of ``stacks``; a stack never recorded is left out.
        """
        if len(stacks) > _MAX_PAGE:
            raise ValueError(f"a stack page holds at most {_MAX_PAGE} stacks, got {len(stacks)}")
        names: dict[str, set[str]] = {}
        for repository, name in stacks:
            names.setdefault(repository, set()).add(name)
        if not names:
            return []
        running = orm.aliased(RunRow)
        active = (
            sa.exists()
            .where(
                running.repository == StackRow.repository,
                running.stack == StackRow.name,
                running.kind.in_(records.RUN_KINDS),  # the index's third column: a few index probes
                running.status.in_(records.ACTIVE_STATUSES),
            )
            .label("active")
        )
        query = (
            sa.select(
                StackRow,
                active,
                RunRow.id.label("run_id"),
                RunRow.kind.label("run_kind"),
                RunRow.status.label("run_status"),
                RunRow.started_at.label("run_started_at"),
                RunRow.finished_at.label("run_finished_at"),
            )
            .outerjoin(RunRow, RunRow.id == StackRow.last_run_id)
            .where(
                sa.or_(
                    *(
                        sa.and_(StackRow.repository == repository, StackRow.name.in_(sorted(found)))
                        for repository, found in sorted(names.items())
                    )
                )
            )
        )
        with self._guard(f"read the state of {len(stacks)} stack(s)"), self._reading() as conn:
            found_rows = {
                (row.repository, row.name): rows.stack_overview(row._mapping) for row in conn.execute(query)
            }
        return [found_rows[key] for key in dict.fromkeys(stacks) if key in found_rows]

    def run_status(self, run_id: int) -> str | None:
        """The status of run ``run_id`` (None: no such run), without reading its output."""
        with self._guard(f"read the status of run {run_id}"), self._reading() as conn:
            return conn.execute(sa.select(RunRow.status).where(RunRow.id == run_id)).scalar_one_or_none()

    def delete_stack(self, *, repository: str, name: str) -> bool:
        """Forget a stack's state and its outputs (its runs stay); True if there was a state."""
        with self._guard(f"delete the state of stack {name!r}"), self._writing() as conn:
            conn.execute(sa.delete(StackOutputRow).filter_by(repository=repository, stack=name))
            deleted = bool(
                conn.execute(sa.delete(StackRow).filter_by(repository=repository, name=name)).rowcount
            )
        self._changed(repository)
        return deleted

    # Stack outputs ----------------------------------------------------------------

    def replace_outputs(
        self,
        *,
        repository: str,
        stack: str,
        outputs: Sequence[records.OutputItem],
        revision: str,
        run_id: int | None,
    ) -> None:
        """Record ``outputs`` as the stack's outputs, replacing the old set in one transaction.

        ``outputs`` are ``core.outputs.Output`` values (anything with ``name``, ``value``
        and ``sensitive``); a sensitive one is sealed, its value column left NULL.
        :class:`StoreError` when there is a sensitive output and no sealer.
        """
        values = rows.output_rows(
            repository=repository,
            stack=stack,
            outputs=outputs,
            revision=revision,
            run_id=run_id,
            now=self._now(),
            sealer=self._sealer,
        )
        key = rows.stack_key(repository=repository, name=stack)
        with self._guard(f"record the outputs of stack {key['name']!r}"), self._writing() as conn:
            conn.execute(sa.delete(StackOutputRow).filter_by(repository=key["repository"], stack=key["name"]))
            if values:
                conn.execute(sa.insert(StackOutputRow), values)
        self._changed(key["repository"])

    def stack_outputs(
        self, *, repository: str, stacks: Sequence[str]
    ) -> dict[str, tuple[records.OutputRecord, ...]]:
        """The recorded outputs of each of ``stacks`` (one query), each in name order.

        Every stack asked for is a key; one with no recorded outputs maps to ``()``.
        Sensitive values stay sealed (see :meth:`reveal`).
        """
        if isinstance(stacks, str):
            raise ValueError("stack_outputs takes a sequence of stack names, not one string")
        wanted = sorted(set(stacks))
        found: dict[str, list[records.OutputRecord]] = {name: [] for name in wanted}
        if not wanted:
            return {}
        if len(wanted) > _MAX_PAGE:
            raise ValueError(f"at most {_MAX_PAGE} stacks at once, got {len(wanted)}")
        query = (
            sa.select(StackOutputRow)
            .where(StackOutputRow.repository == repository, StackOutputRow.stack.in_(wanted))
            .order_by(StackOutputRow.stack, StackOutputRow.name)
        )
        with self._guard(f"read the outputs of {len(wanted)} stack(s)"), self._reading() as conn:
            for row in conn.execute(query):
                found[row.stack].append(rows.output_record(row))
        return {name: tuple(items) for name, items in found.items()}

    def reveal(self, record: records.OutputRecord) -> Any:
        """The value of ``record``; a sensitive one unsealed (only to hand it to an engine).

        :class:`~truenorth.store.sealing.SealingError` without a sealer or with another key.
        """
        if not record.sensitive:
            return record.value
        if self._sealer is None:
            raise sealing.SealingError(
                f"cannot open the sensitive output {record.name!r}: the store has no sealing key "
                f"(a key file or {sealing.ENV_KEY})"
            )
        if record.sealed is None:
            raise sealing.SealingError(f"the sensitive output {record.name!r} has no sealed value")
        return self._sealer.unseal(record.sealed)

    # Stack files: engine state replicas share -------------------------------------

    def stack_files(self, *, repository: str, stack: str) -> list[records.StackFileRecord]:
        """Every engine state file kept for ``stack`` of ``repository`` (:mod:`.filing`), by name."""
        with self._guard(f"read the shared files of stack {stack!r}"), self._reading() as conn:
            return filing.files(conn, repository=repository, stack=stack)

    def put_stack_file(self, *, repository: str, stack: str, name: str, content: bytes) -> bool:
        """Keep ``content`` as the shared file ``name`` of the stack (at most 4 MiB, a plain
        file name: ``ValueError`` otherwise); False, nothing written, when it is unchanged."""
        with self._guard(f"keep the shared file {name!r} of stack {stack!r}"), self._writing() as conn:
            return filing.put(
                conn, repository=repository, stack=stack, name=name, content=content, now=self._now()
            )

    def delete_stack_file(self, *, repository: str, stack: str, name: str) -> bool:
        """Forget the shared file ``name`` of the stack; True if it was kept."""
        with self._guard(f"delete the shared file {name!r} of stack {stack!r}"), self._writing() as conn:
            return filing.delete(conn, repository=repository, stack=stack, name=name)

    # Publications: what each repository's owner knows, for the other replicas ------

    def publish(
        self,
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
    ) -> bool:
        """Publish what ``holder``, the owner of ``repository``, knows of it (:mod:`.publications`);
        False, nothing written, when ``holder`` does not hold the repository's lease."""
        with self._guard(f"publish the view of {repository}"), self._writing() as conn:
            written = publications.publish(
                conn,
                repository=repository,
                holder=holder,
                valid_revision=valid_revision,
                desired_revision=desired_revision,
                spec_text=spec_text,
                source_error=source_error,
                revision_error=revision_error,
                last_fetch_at=last_fetch_at,
                last_check_at=last_check_at,
                drifted=drifted,
                commits=commits,
                now=self._now(),
            )
        if written:
            self._changed(repository)
        return written

    def publications(
        self, *, repositories: Sequence[str], known_specs: Iterable[str] = ()
    ) -> dict[str, records.PublicationRecord]:
        """What the owners of ``repositories`` published, by repository (one query); without
        the spec text of a valid revision in ``known_specs``."""
        with self._guard(f"read the views of {len(repositories)} repositories"), self._reading() as conn:
            return publications.read(conn, repositories=repositories, known_specs=frozenset(known_specs))

    # Merge requests an owner acts on, drift announcements (migration 0008) ----------

    def merge_request(self, *, repository: str, number: int) -> records.MergeRequestRecord | None:
        """Merge request ``number`` of ``repository`` as last recorded (:mod:`.merge_requests`)."""
        with self._guard(f"read merge request {number}"), self._reading() as conn:
            return merge_requests.read(conn, repository=repository, number=number)

    def merge_requests(
        self, *, repositories: Sequence[str], state: str | None = None
    ) -> list[records.MergeRequestRecord]:
        """The merge requests recorded for ``repositories`` (in ``state``: ``open``, ``merged``)."""
        with self._guard("list merge requests"), self._reading() as conn:
            return merge_requests.of_repositories(conn, repositories=repositories, state=state)

    def put_merge_request(self, *, repository: str, number: int, order: int | None, **fields: Any) -> bool:
        """Record merge request ``number`` as its newest event says (:func:`.merge_requests.put`);
        False, nothing written, when an event of a newer ``order`` was recorded."""
        with self._guard(f"record merge request {number}"), self._writing() as conn:
            return merge_requests.put(
                conn, repository=repository, number=number, order=order, now=self._now(), **fields
            )

    def note_merge_request_comment(self, *, repository: str, number: int, comment_id: int) -> bool:
        """Record the id of truenorth's comment on merge request ``number``."""
        with self._guard(f"record the comment of merge request {number}"), self._writing() as conn:
            return merge_requests.note_comment(
                conn, repository=repository, number=number, comment_id=comment_id
            )

    def forget_merge_request(self, *, repository: str, number: int, order: int | None = None) -> bool:
        """Delete merge request ``number`` (closed, or merged and reported)."""
        with self._guard(f"forget merge request {number}"), self._writing() as conn:
            return merge_requests.forget(conn, repository=repository, number=number, order=order)

    def drift_announced(self, *, repository: str, stack: str) -> bool:
        """Whether ``stack``'s drift was announced and not resolved since (:mod:`.announcements`)."""
        with self._guard(f"read the drift announcement of stack {stack!r}"), self._reading() as conn:
            return announcements.announced(conn, repository=repository, stack=stack)

    def set_drift_announced(self, *, repository: str, stack: str, revision: str, announced: bool) -> None:
        """Record that ``stack``'s drift (at ``revision``) was announced, or (False) resolved."""
        with self._guard(f"record the drift announcement of stack {stack!r}"), self._writing() as conn:
            if announced:
                announcements.announce(
                    conn, repository=repository, stack=stack, revision=revision, now=self._now()
                )
            else:
                announcements.resolve(conn, repository=repository, stack=stack)

    # Replicas and leases ----------------------------------------------------------

    def heartbeat(self, replica: str, *, address: str = "") -> records.ReplicaRecord:
        """Register ``replica`` (its id is the runs' ``holder``) or say it is still alive."""
        with self._guard("record this controller's heartbeat"), self._writing() as conn:
            return leasing.heartbeat(conn, self._clock_for(conn), replica=replica, address=address)

    def live_replicas(self, *, within: float) -> list[records.ReplicaRecord]:
        """The replicas heard from in the last ``within`` seconds (the server's clock), by id."""
        with self._guard("list the live controllers"), self._reading() as conn:
            return leasing.live_replicas(conn, self._clock_for(conn), within=within)

    def forget_replicas(self, *, silent_for: float) -> list[str]:
        """Delete the replicas silent for ``silent_for`` seconds (their leases expire by themselves)."""
        with self._guard("forget silent controllers"), self._writing() as conn:
            return leasing.forget_replicas(conn, self._clock_for(conn), silent_for=silent_for)

    def leave(self, replica: str) -> list[str]:
        """Graceful shutdown: release every lease of ``replica`` at once and forget it.
        Returns the repositories released."""
        with self._guard("release this controller's leases"), self._writing() as conn:
            clock = self._clock_for(conn)
            released = leasing.release(conn, clock, replica=replica)
            leasing.forget_replicas(conn, clock, replica=replica)
            return released

    def take_lease(self, repository: str, *, replica: str, seconds: float) -> records.LeaseRecord | None:
        """Take (or renew) ``repository``'s lease for ``seconds``; None when another replica
        holds it unexpired. One atomic statement; expiry is judged by the server's clock."""
        with self._guard(f"take the lease of {repository}"), self._writing() as conn:
            return leasing.take(
                conn, self._clock_for(conn), repository=repository, replica=replica, seconds=seconds
            )

    def renew_leases(
        self, *, replica: str, seconds: float, repositories: Sequence[str] | None = None
    ) -> list[str]:
        """Extend ``replica``'s leases; return the repositories it still holds."""
        with self._guard("renew this controller's leases"), self._writing() as conn:
            return leasing.renew(
                conn, self._clock_for(conn), replica=replica, seconds=seconds, repositories=repositories
            )

    def release_leases(self, *, replica: str, repositories: Sequence[str] | None = None) -> list[str]:
        """Hand back ``replica``'s leases (of ``repositories``) for any replica to take now."""
        with self._guard("release leases"), self._writing() as conn:
            return leasing.release(conn, self._clock_for(conn), replica=replica, repositories=repositories)

    def leases(self, *, repositories: Sequence[str] | None = None) -> list[records.LeaseRecord]:
        """The recorded leases (of ``repositories``), by repository."""
        with self._guard("read the leases"), self._reading() as conn:
            return leasing.leases(conn, repositories=repositories)

    def stack_lock(self, repository: str, stack: str, *, wait: float = 0.0) -> locking.StackLock:
        """The database lock of one stack, a context manager held for one plan or apply.

        PostgreSQL: a session-level advisory lock on a connection of its own, released on
        exit or when the session dies; :class:`~truenorth.store.locking.StackBusy` when
        another session holds it after ``wait`` seconds. SQLite: holds nothing (one
        controller by rule).
        """
        self._check_open()
        return locking.StackLock(
            self._session_engine(),
            repository=repository,
            stack=stack,
            wait=wait,
            secrets=self._secrets,
            shown_url=self._shown_url,
        )

    # Routing: notifications and requests to a repository's owner ------------------

    def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of ``channel`` (every replica on PostgreSQL; this process on SQLite)."""
        signalling.channel_name(channel)
        signalling.payload_text(payload)
        if self.backend != "postgresql":
            self._hub.publish(signalling.Notice(channel=channel, payload=payload))
            return
        with self._guard(f"notify {channel}"), self._writing() as conn:
            signalling.notify(conn, channel=channel, payload=payload)

    def watch(self, callback: Callable[[str], None] | None) -> None:
        """Call ``callback(repository key)`` after each committed write that changes what a
        view shows: a run started, recorded, ended or interrupted, a stack's state or outputs,
        a publication (log lines are not: log streams read the store). Called in the writing
        thread, so it must be quick (replicas hand it to a coalescing
        :class:`~truenorth.store.signalling.Announcer`); None stops it."""
        self._watcher = callback

    def listen(self, channels: Sequence[str]) -> signalling.Listener:
        """A :class:`~truenorth.store.signalling.Listener` on ``channels`` (close it when done)."""
        self._check_open()
        engine = self._session_engine()
        if engine is None:
            return signalling.Listener(channels, hub=self._hub)
        with self._guard(f"listen on {', '.join(channels)}"):
            return signalling.Listener(channels, engine=engine)

    def request(
        self,
        *,
        repository: str,
        action: str,
        requested_by: str,
        stack: str = "",
        arguments: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> int:
        """Ask the owner of ``repository`` to ``action`` (``fetch`` for a webhook) and wake it."""
        request_id = self.request_once(
            repository=repository,
            action=action,
            requested_by=requested_by,
            stack=stack,
            arguments=arguments,
            actor=actor,
        )
        assert request_id is not None  # no key: never a duplicate
        return request_id

    def request_once(
        self,
        *,
        repository: str,
        action: str,
        requested_by: str,
        stack: str = "",
        arguments: Mapping[str, Any] | None = None,
        actor: str | None = None,
        dedup: str | None = None,
        taken_by: str | None = None,
    ) -> int | None:
        """:meth:`request`, recorded once per ``(repository, dedup)``: None for a duplicate.

        ``taken_by``: the replica records work it does itself (the owner of ``repository``),
        so that a redelivery elsewhere finds it; nobody is woken for it.
        """
        with self._guard(f"record a {action} request for {repository}"), self._writing() as conn:
            request_id = requesting.add(
                conn,
                self._clock_for(conn),
                repository=repository,
                stack=stack,
                action=action,
                arguments=arguments,
                actor=actor,
                requested_by=requested_by,
                dedup=dedup,
                taken_by=taken_by,
            )
            if request_id is None or taken_by is not None:
                return request_id
            if conn.dialect.name == "postgresql":
                # Delivered when this transaction commits, never before the row is visible.
                signalling.notify(
                    conn,
                    channel=requesting.REQUESTS_CHANNEL,
                    payload=requesting.notice_payload(request_id, repository),
                )
        if self.backend != "postgresql":
            self._hub.publish(
                signalling.Notice(
                    channel=requesting.REQUESTS_CHANNEL,
                    payload=requesting.notice_payload(request_id, repository),
                )
            )
        return request_id

    def take_requests(
        self, *, replica: str, repositories: Sequence[str], limit: int = 100
    ) -> list[records.RequestRecord]:
        """Take the pending requests of the repositories ``replica`` holds, oldest first."""
        with self._guard("take pending requests"), self._writing() as conn:
            return requesting.take(
                conn, self._clock_for(conn), replica=replica, repositories=repositories, limit=limit
            )

    def finish_request(
        self, request_id: int, *, status: str, outcome: Mapping[str, Any] | None = None
    ) -> bool:
        """Answer a request (``done`` or ``failed``) and wake its asker; False if it had ended."""
        with self._guard(f"record the answer to request {request_id}"), self._writing() as conn:
            ended = requesting.finish(conn, self._clock_for(conn), request_id, status=status, outcome=outcome)
            if ended and conn.dialect.name == "postgresql":
                signalling.notify(conn, channel=requesting.ANSWERS_CHANNEL, payload=str(int(request_id)))
        if ended and self.backend != "postgresql":
            self._hub.publish(
                signalling.Notice(channel=requesting.ANSWERS_CHANNEL, payload=str(int(request_id)))
            )
        return ended

    def get_request(self, request_id: int) -> records.RequestRecord | None:
        with self._guard(f"read request {request_id}"), self._reading() as conn:
            return requesting.get(conn, request_id)

    def abandon_requests(self, *, holder: str, repository: str) -> list[int]:
        """End as failed the requests of ``repository`` a dead ``holder`` had taken."""
        with self._guard(f"end the requests of {repository} left by {holder}"), self._writing() as conn:
            return requesting.abandon(conn, self._clock_for(conn), holder=holder, repository=repository)

    def prune_requests(self, *, older_than: float) -> int:
        """Delete requests answered more than ``older_than`` seconds ago."""
        with self._guard("delete old requests"), self._writing() as conn:
            return requesting.prune(conn, self._clock_for(conn), older_than=older_than)

    # Health -----------------------------------------------------------------------

    def ping(self, *, timeout: float = 2.0) -> None:
        """A cheap round trip (``SELECT 1``) for ``/readyz``: :class:`StoreError` when the
        database does not answer within ``timeout`` seconds (PostgreSQL's statement timeout;
        connecting is bounded by the connect timeout)."""
        millis = max(1, int(timeout * 1000))
        with self._guard("reach the state database"), self._reading() as conn:
            if conn.dialect.name == "postgresql":
                with conn.begin():
                    conn.execute(sa.text(f"SET LOCAL statement_timeout = {millis:d}"))
                    conn.execute(sa.text("SELECT 1"))
            else:
                conn.execute(sa.text("SELECT 1"))

    def database_time(self) -> datetime:
        """*Now* as the database sees it (the server's clock on PostgreSQL, the store's on SQLite)."""
        with self._guard("read the database's clock"), self._reading() as conn:
            if conn.dialect.name != "postgresql":
                return self._now()
            found = conn.execute(sa.text("SELECT now()")).scalar_one()
        return checks.aware(found, what="the database's clock").astimezone(UTC)

    # Plumbing ---------------------------------------------------------------------

    def _clock_for(self, conn: sa.Connection) -> leasing.Clock:
        return leasing.Clock(conn, self._now())

    def _session_engine(self) -> sa.Engine | None:
        """The engine of connections that are sessions of their own (PostgreSQL), or None."""
        if self.backend != "postgresql":
            return None
        if self._sessions is None:
            self._sessions = connecting.create_session_engine(self._engine.url)
        return self._sessions

    def _insert_run(self, action: str, values: Mapping[str, Any]) -> int:
        with self._guard(action), self._writing() as conn:
            run_id: int = conn.execute(sa.insert(RunRow).values(**values).returning(RunRow.id)).scalar_one()
        self._changed(str(values["repository"]))
        return run_id

    def _changed(self, *repositories: str) -> None:
        """Tell the watcher (:meth:`watch`) that ``repositories``' views changed (committed)."""
        watcher = self._watcher
        if watcher is None:
            return
        for repository in repositories:
            with contextlib.suppress(Exception):  # a notification is never worth a failed write
                watcher(repository)

    def _now(self) -> datetime:
        return checks.aware(self._clock(), what="the store's clock").astimezone(UTC)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        self._check_open()
        with self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        self._check_open()
        with self._engine.connect() as conn:
            conn.execution_options(**{connecting.BEGIN_OPTION: "immediate"})
            with conn.begin():
                yield conn

    def _refuses_writes(self) -> bool:
        """True when this SQLite database's file or write-ahead log cannot be written now."""
        database = self._engine.url.database
        if self._engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return False
        files = (database, f"{database}-wal")
        return any(os.path.exists(path) and not os.access(path, os.W_OK) for path in files)

    def _check_open(self) -> None:
        if self._closed:
            raise errors.StoreError(f"the store {self._shown_url} is closed")

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn driver and migration failures into a StoreError that says what failed."""
        try:
            yield
        except (sa_exc.SQLAlchemyError, sqlite3.Error, migrating.MigrationError) as exc:
            reason = errors.describe(exc, secrets=self._secrets)
            if reason.startswith("disk I/O error") and self._refuses_writes():
                # SQLite says "disk I/O error" when an open file stops taking writes.
                reason = f"the database is read-only: its file or file system refuses writes ({reason})"
            if isinstance(exc, migrating.MigrationError):
                reason = f"the schema revision is unknown to this truenorth, written by a newer version? ({reason})"
            message = errors.scrub(f"cannot {action}: {reason} [database {self._shown_url}]", self._secrets)
            # Not chained: the driver's exception may carry connection parameters.
            raise errors.StoreError(message) from None
