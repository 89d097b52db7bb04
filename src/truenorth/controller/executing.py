"""Running one engine operation on one stack, and recording it whatever happens.

Every plan, apply and drift check goes through :func:`plan_stack` or :func:`apply_stack`:
a run row is written before the engine starts (nothing is applied that cannot be
recorded), output is redacted and streamed to the run log, and the run is finished with
its status, plan summary, changes and error, also when the engine raises.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from truenorth.controller import runtime, sources
from truenorth.core import plans, redaction, runs, specs
from truenorth.engines import protocol

__all__ = [
    "REPOSITORY_STACK",
    "Outcome",
    "apply_stack",
    "plan_from_record",
    "plan_stack",
    "record_revision_failure",
    "record_skipped",
]

#: The stack name runs are recorded under when a whole revision failed (bad spec, git error).
REPOSITORY_STACK = "*"

log = logging.getLogger(__name__)

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """A recorded run: its id, the engine's result and, for plans, the plan."""

    run_id: int
    result: runs.RunResult
    plan: plans.Plan | None = None


def plan_stack(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    kind: runs.RunKind = runs.RunKind.PLAN,
    on_output: LineSink | None = None,
    actor: str | None = None,
    cancel: threading.Event | None = None,
    reason: str | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Outcome:
    """Plan (or drift-check) ``stack`` at ``revision`` and record the run.

    ``on_start`` hears the run id as soon as the run row exists (before the engine runs).
    """
    run_id = rt.store.start_run(
        stack=stack.name,
        repository=revision.display,
        revision=revision.sha,
        kind=kind.value,
        actor=actor,
        reason=reason,
        holder=rt.holder,
    )
    if on_start is not None:
        on_start(run_id)
    ctx, writer = _context(rt, revision, stack, run_id=run_id, on_output=on_output, cancel=cancel)
    started = _now()
    plan: plans.Plan | None = None
    error = ""
    try:
        engine = rt.engines.get(stack.engine)
        plan = engine.drift(ctx) if kind is runs.RunKind.DRIFT else engine.plan(ctx)
    except protocol.EngineError as exc:
        error = ctx.redactor(str(exc))
    except Exception as exc:  # an engine bug must still end as a recorded failure
        log.exception("engine %s crashed while planning stack %s", stack.engine, stack.name)
        error = ctx.redactor(f"internal error in the {stack.engine} engine: {type(exc).__name__}: {exc}")
    finally:
        writer.flush()
    status = runs.RunStatus.SUCCEEDED if plan is not None else runs.RunStatus.FAILED
    result = runs.RunResult(
        stack=stack.name,
        kind=kind,
        status=status,
        revision=revision.sha,
        started_at=started,
        finished_at=_now(),
        plan=plan,
        output=plan.output if plan else "",
        error=error,
    )
    rt.store.finish_run(
        run_id,
        status=status.value,
        summary=_summary_record(plan),
        changes=[item.to_dict() for item in plan.changes] if plan else [],
        output=result.output,
        error=error,
    )
    _update_stack_after_plan(rt, revision, stack, plan=plan, run_id=run_id, kind=kind, error=error)
    return Outcome(run_id=run_id, result=result, plan=plan)


def apply_stack(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    plan: plans.Plan,
    *,
    plan_run_id: int | None = None,
    on_output: LineSink | None = None,
    actor: str | None = None,
    reason: str | None = None,
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Outcome:
    """Apply exactly ``plan`` to ``stack`` and record the run (``on_start``: as in :func:`plan_stack`)."""
    run_id = rt.store.start_run(
        stack=stack.name,
        repository=revision.display,
        revision=revision.sha,
        kind=runs.RunKind.APPLY.value,
        actor=actor,
        reason=reason,
        plan_id=plan_run_id,
        holder=rt.holder,
    )
    if on_start is not None:
        on_start(run_id)
    rt.store.upsert_stack(
        repository=revision.display, name=stack.name, engine=stack.engine, sync_state="applying"
    )
    ctx, writer = _context(rt, revision, stack, run_id=run_id, on_output=on_output, cancel=cancel)
    started = _now()
    try:
        result = rt.engines.get(stack.engine).apply(ctx, plan)
    except protocol.EngineError as exc:
        result = _failed(stack, revision, started=started, error=ctx.redactor(str(exc)))
    except Exception as exc:
        log.exception("engine %s crashed while applying stack %s", stack.engine, stack.name)
        result = _failed(
            stack,
            revision,
            started=started,
            error=ctx.redactor(f"internal error in the {stack.engine} engine: {type(exc).__name__}: {exc}"),
        )
    finally:
        writer.flush()
    rt.store.finish_run(
        run_id,
        status=result.status.value,
        summary=_summary_record(plan),
        changes=[item.to_dict() for item in plan.changes],
        hosts=[host.to_dict() for host in result.hosts],
        output=ctx.redactor(result.output),
        error=ctx.redactor(result.error),
    )
    converged = result.status in (runs.RunStatus.SUCCEEDED, runs.RunStatus.PARTIAL)
    fields: dict[str, Any] = {
        "engine": stack.engine,
        "sync_state": "synced" if result.status is runs.RunStatus.SUCCEEDED else "failed",
        "last_run_id": run_id,
        "pending_plan_id": None,
        "error": ctx.redactor(result.error) or None,
    }
    if converged:
        fields.update(applied_revision=revision.sha, applied_at=result.finished_at)
    rt.store.upsert_stack(repository=revision.display, name=stack.name, **fields)
    return Outcome(run_id=run_id, result=result, plan=plan)


def record_skipped(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    reason: str,
) -> Outcome:
    """Record that ``stack`` was not applied because a dependency failed."""
    now = _now()
    run_id = rt.store.record_run(
        stack=stack.name,
        repository=revision.display,
        revision=revision.sha,
        kind=runs.RunKind.APPLY.value,
        status=runs.RunStatus.SKIPPED.value,
        error=reason,
        reason=reason,
        holder=rt.holder,
        started_at=now,
        finished_at=now,
    )
    result = runs.RunResult(
        stack=stack.name,
        kind=runs.RunKind.APPLY,
        status=runs.RunStatus.SKIPPED,
        revision=revision.sha,
        started_at=now,
        finished_at=now,
        error=reason,
    )
    return Outcome(run_id=run_id, result=result)


def record_revision_failure(
    rt: runtime.Runtime,
    *,
    repository: str,
    revision: str,
    error: str,
    actor: str | None = None,
) -> int:
    """Record that a whole revision was refused (invalid spec, unreachable source)."""
    return rt.store.record_run(
        stack=REPOSITORY_STACK,
        repository=redaction.redact_url_credentials(repository),
        revision=revision,
        kind=runs.RunKind.PLAN.value,
        status=runs.RunStatus.FAILED.value,
        error=redaction.redact_url_credentials(error),
        actor=actor,
        holder=rt.holder,
    )


def plan_from_record(
    *,
    stack: str,
    engine: str,
    revision: str,
    summary: Mapping[str, Any],
    changes: list[Mapping[str, Any]],
) -> plans.Plan:
    """Rebuild a stored plan (an approved ``pending-approval`` plan, say) for applying."""
    return plans.Plan(
        stack=stack,
        engine=engine,
        revision=revision,
        changes=tuple(plans.Change.from_dict(item) for item in changes),
        summary=plans.PlanSummary.from_dict(summary),
        artifact=summary.get("artifact"),
        fingerprint=str(summary.get("fingerprint", "")),
        unreachable_hosts=tuple(summary.get("unreachable_hosts", ())),
        meta=dict(summary.get("meta") or {}),
    )


def _context(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    run_id: int,
    on_output: LineSink | None,
    cancel: threading.Event | None,
) -> tuple[protocol.StackContext, _LogWriter]:
    secret_values = rt.secrets.for_stack(stack)
    redactor = redaction.Redactor(secret_values.values())
    run_dir = rt.layout.run(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_dir = rt.layout.state(stack.name, repository=revision.display)
    state_dir.mkdir(parents=True, exist_ok=True)
    writer = _LogWriter(rt, run_id)

    def sink(line: str) -> None:
        line = redactor(line)
        writer.write(line)
        if on_output is not None:
            on_output(line)

    ctx = protocol.StackContext(
        stack=stack,
        checkout=revision.checkout,
        revision=revision.sha,
        run_dir=run_dir,
        state_dir=state_dir,
        cache_dir=rt.layout.cache,
        timeout=rt.timeout,
        secrets=secret_values,
        settings=rt.clusters(stack),
        redactor=redactor,
        on_output=sink,
        cancel=cancel or threading.Event(),
    )
    return ctx, writer


class _LogWriter:
    """Batches live output lines into the run log: one write per batch, not per line."""

    _BATCH_LINES = 200
    _BATCH_SECONDS = 0.5

    def __init__(self, rt: runtime.Runtime, run_id: int) -> None:
        self._rt = rt
        self._run_id = run_id
        self._pending: list[str] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            self._pending.append(line)
            due = (
                len(self._pending) >= self._BATCH_LINES
                or time.monotonic() - self._last >= self._BATCH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
            self._last = time.monotonic()
        if lines:
            self._rt.store.append_log(self._run_id, lines)


def _summary_record(plan: plans.Plan | None) -> dict[str, Any]:
    if plan is None:
        return {}
    record: dict[str, Any] = dict(plan.summary.to_dict())
    record.update(
        has_changes=plan.has_changes,
        fingerprint=plan.fingerprint,
        artifact=plan.artifact,
        unreachable_hosts=list(plan.unreachable_hosts),
        meta=_json_safe(plan.meta),
    )
    return record


def _json_safe(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's engine metadata, as far as it is plain JSON (an approved plan needs it back)."""
    safe: dict[str, Any] = {}
    for key, value in meta.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        safe[str(key)] = value
    return safe


def _update_stack_after_plan(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    plan: plans.Plan | None,
    run_id: int,
    kind: runs.RunKind,
    error: str,
) -> None:
    fields: dict[str, Any] = {"engine": stack.engine, "last_run_id": run_id}
    if plan is None:
        fields.update(sync_state="failed", error=error or None)
    elif kind is runs.RunKind.DRIFT:
        fields.update(sync_state="out-of-sync" if plan.has_drift else "synced", error=None)
    else:
        fields.update(
            sync_state="out-of-sync" if plan.has_changes else "synced",
            pending_plan_id=run_id if plan.has_changes else None,
            error=None,
        )
    rt.store.upsert_stack(repository=revision.display, name=stack.name, **fields)


def _failed(
    stack: specs.StackSpec, revision: sources.Revision, *, started: datetime, error: str
) -> runs.RunResult:
    return runs.RunResult(
        stack=stack.name,
        kind=runs.RunKind.APPLY,
        status=runs.RunStatus.FAILED,
        revision=revision.sha,
        started_at=started,
        finished_at=_now(),
        error=error,
    )


def _now() -> datetime:
    return datetime.now(UTC)
