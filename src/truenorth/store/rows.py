"""Between the store's arguments, its SQL and its records.

:class:`~truenorth.store.database.Store` stays a list of short transactions because
the work of checking arguments into column values, building filters and the stack
upsert, and turning rows back into frozen records lives here. Nothing here touches a
connection.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from truenorth import texts
from truenorth.store import checks, errors, records, schema, sealing
from truenorth.store.schema import RunRow, StackRow

__all__ = [
    "MAX_ERROR",
    "MAX_LOG_LINE",
    "MAX_OUTPUTS",
    "MAX_OUTPUT_BYTES",
    "NEWEST_FIRST",
    "log_line",
    "optional_id",
    "optional_name",
    "output_record",
    "output_rows",
    "run_filters",
    "run_identity",
    "run_outcome",
    "run_record",
    "stack_fields",
    "stack_key",
    "stack_overview",
    "stack_record",
    "stack_upsert",
]

#: The most characters of one run-log line kept (then cut with "... (N more bytes)").
MAX_LOG_LINE = 16 * 1024
#: The most characters of a run's error message kept (then cut the same way).
MAX_ERROR = 64 * 1024
#: The most outputs one stack may record.
MAX_OUTPUTS = 1000
#: The most bytes of one output's value (its canonical JSON).
MAX_OUTPUT_BYTES = 1024 * 1024
#: The order of "newest first": start time, then id for runs started together.
NEWEST_FIRST = (RunRow.started_at.desc(), RunRow.id.desc())

_STACK_DEFAULTS: dict[str, Any] = {
    "engine": "",
    "sync_state": "unknown",
    "health": "Unknown",  # core.states.Health.UNKNOWN's value (older rows say "unknown")
    "applied_revision": None,
    "applied_at": None,
    "last_run_id": None,
    "pending_plan_id": None,
    "error": "",
}


def run_identity(
    *, stack: str, repository: str, revision: str, kind: str, actor: str | None, reason: str | None
) -> dict[str, Any]:
    """Checked values of what a run is about and who asked for it."""
    return {
        "stack": checks.bounded(stack, what="stack name", limit=schema.STACK_LENGTH),
        "repository": checks.bounded(repository, what="repository", limit=schema.REPOSITORY_LENGTH),
        "revision": checks.bounded(revision, what="revision", limit=schema.REVISION_LENGTH, empty=True),
        "kind": checks.choice(kind, records.RUN_KINDS, what="run kind"),
        "actor": optional_name(actor, what="actor"),
        "reason": None if reason is None else checks.storable_text(_text(reason, what="reason")),
    }


def run_outcome(
    *,
    status: str,
    summary: Mapping[str, Any] | None,
    changes: Iterable[Any] | None,
    hosts: Iterable[Any] | None,
    output: str | None,
    error: str | None,
) -> dict[str, Any]:
    """Checked values of how a run ended."""
    return {
        "status": checks.choice(status, records.FINISHED_STATUSES, what="final run status"),
        "summary": checks.json_object(summary, what="summary"),
        "changes": checks.json_list(changes, what="changes"),
        "hosts": checks.json_list(hosts, what="hosts"),
        "output": checks.storable_text(_text(output or "", what="output")),
        "error": checks.storable_text(texts.bound(_text(error or "", what="error"), MAX_ERROR)),
    }


def optional_id(value: object, *, what: str) -> int | None:
    """A run id or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a run id (a positive integer) or None, got {value!r}")
    return value


def optional_name(value: object, *, what: str) -> str | None:
    """A short name (actor, holder) or None."""
    return None if value is None else checks.bounded(value, what=what, limit=schema.NAME_LENGTH, empty=True)


def log_line(value: object) -> str:
    """One storable log line, cut at :data:`MAX_LOG_LINE` characters (engine output is untrusted)."""
    return checks.storable_text(texts.bound(_text(value, what="a log line"), MAX_LOG_LINE))


def run_filters(
    *, stack: str | None, repository: str | None, kind: str | None, statuses: object
) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses for the filters that are given."""
    where: list[sa.ColumnElement[bool]] = []
    if stack is not None:
        where.append(RunRow.stack == stack)
    if repository is not None:
        where.append(RunRow.repository == repository)
    if kind is not None:
        where.append(RunRow.kind == checks.choice(kind, records.RUN_KINDS, what="run kind"))
    if statuses is not None:
        where.append(RunRow.status.in_(checks.choices(statuses, records.RUN_STATUSES, what="run status")))
    return where


def run_record(row: sa.Row[Any]) -> records.RunRecord:
    """A frozen record of one ``runs`` row."""
    mapping = row._mapping
    return records.RunRecord(
        **{field.name: mapping[field.name] for field in dataclasses.fields(records.RunRecord)}
    )


def stack_key(*, repository: str, name: str) -> dict[str, str]:
    """Checked primary key of a stack."""
    return {
        "repository": checks.bounded(repository, what="repository", limit=schema.REPOSITORY_LENGTH),
        "name": checks.bounded(name, what="stack name", limit=schema.STACK_LENGTH),
    }


def stack_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Checked stack state fields; None resets a field to its default."""
    unknown = sorted(set(fields) - set(records.STACK_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown stack field(s) {', '.join(unknown)}: expected {', '.join(records.STACK_FIELDS)}"
        )
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            checked[name] = _STACK_DEFAULTS[name]
        elif name in ("engine", "sync_state", "health"):
            checked[name] = checks.bounded(value, what=name, limit=schema.STATE_LENGTH, empty=True)
        elif name == "applied_revision":
            checked[name] = checks.bounded(value, what=name, limit=schema.REVISION_LENGTH, empty=True)
        elif name == "applied_at":
            checked[name] = checks.aware(value, what=name)
        elif name in ("last_run_id", "pending_plan_id"):
            checked[name] = optional_id(value, what=name)
        else:
            checked[name] = checks.storable_text(_text(value, what=name))
    return checked


def stack_upsert(dialect: str, *, key: Mapping[str, str], changed: Mapping[str, Any]) -> sa.Executable:
    """One INSERT ... ON CONFLICT DO UPDATE that sets only ``changed`` on an existing stack."""
    values = {**_STACK_DEFAULTS, **changed, **key}
    # Each dialect's module is imported only where it is used: SQLAlchemy's PostgreSQL
    # dialect costs ~0.1 s to import, a price an SQLite store never needs to pay.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg_insert = postgresql.insert(StackRow).values(**values)
        return pg_insert.on_conflict_do_update(
            index_elements=list(key), set_={name: pg_insert.excluded[name] for name in changed}
        )
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite_insert = sqlite.insert(StackRow).values(**values)
        return lite_insert.on_conflict_do_update(
            index_elements=list(key), set_={name: lite_insert.excluded[name] for name in changed}
        )
    raise ValueError(f"unsupported database dialect {dialect!r}")


def stack_record(row: sa.Row[Any]) -> records.StackRecord:
    """A frozen record of one ``stacks`` row."""
    mapping = row._mapping
    return records.StackRecord(
        **{field.name: mapping[field.name] for field in dataclasses.fields(records.StackRecord)}
    )


def stack_overview(mapping: sa.RowMapping) -> records.StackOverview:
    """A stack's record and its last run in brief, from one row of the stacks-runs join."""
    last = None
    if mapping["run_id"] is not None:
        last = records.RunBrief(
            id=mapping["run_id"],
            kind=mapping["run_kind"],
            status=mapping["run_status"],
            started_at=mapping["run_started_at"],
            finished_at=mapping["run_finished_at"],
        )
    stack = records.StackRecord(
        **{field.name: mapping[field.name] for field in dataclasses.fields(records.StackRecord)}
    )
    return records.StackOverview(stack=stack, last_run=last, active=bool(mapping.get("active", False)))


def output_rows(
    *,
    repository: str,
    stack: str,
    outputs: Sequence[records.OutputItem],
    revision: str,
    run_id: int | None,
    now: Any,
    sealer: sealing.Sealer | None,
) -> list[dict[str, Any]]:
    """Checked ``stack_outputs`` rows: a sensitive value sealed (its column NULL), never in clear.

    ``ValueError`` for a bad argument (never showing a value); :class:`StoreError` for a
    sensitive output without a sealer.
    """
    key = stack_key(repository=repository, name=stack)
    checked_revision = checks.bounded(revision, what="revision", limit=schema.REVISION_LENGTH, empty=True)
    checked_run = optional_id(run_id, what="run_id")
    if isinstance(outputs, str | bytes) or len(outputs) > MAX_OUTPUTS:
        raise ValueError(f"outputs must be a sequence of at most {MAX_OUTPUTS} outputs")
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in outputs:
        name = checks.bounded(item.name, what="output name", limit=schema.NAME_LENGTH)
        if name in seen:
            raise ValueError(f"output {name!r} of stack {key['name']!r} is given twice")
        seen.add(name)
        if not isinstance(item.sensitive, bool):
            raise ValueError(f"output {name!r}: sensitive must be true or false")
        try:
            text = sealing.canonical_json(item.value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"output {name!r} of stack {key['name']!r} is not a JSON value: {exc}") from None
        if len(text.encode("utf-8")) > MAX_OUTPUT_BYTES:
            raise ValueError(
                f"output {name!r} of stack {key['name']!r} is larger than {MAX_OUTPUT_BYTES} bytes"
            )
        row: dict[str, Any] = {
            "repository": key["repository"],
            "stack": key["name"],
            "name": name,
            "sensitive": item.sensitive,
        }
        if item.sensitive:
            if sealer is None:
                raise errors.StoreError(
                    f"cannot store the sensitive output {name!r} of stack {key['name']!r}: the store has no "
                    f"sealing key (give Store.open a sealer: a key file or {sealing.ENV_KEY})"
                )
            row.update(value=None, sealed=sealer.seal(item.value), digest=sealer.digest(item.value))
        else:
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            row.update(value=item.value, sealed=None, digest=digest)
        row.update(revision=checked_revision, run_id=checked_run, updated_at=now)
        found.append(row)
    return found


def output_record(row: sa.Row[Any]) -> records.OutputRecord:
    """A frozen record of one ``stack_outputs`` row (a sensitive value stays sealed)."""
    mapping = row._mapping
    sensitive = bool(mapping["sensitive"])
    return records.OutputRecord(
        name=mapping["name"],
        value=None if sensitive else mapping["value"],
        sensitive=sensitive,
        digest=mapping["digest"],
        revision=mapping["revision"],
        run_id=mapping["run_id"],
        updated_at=mapping["updated_at"],
        sealed=mapping["sealed"],
    )


def _text(value: object, *, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value
