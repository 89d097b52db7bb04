"""Running one engine operation on one stack, and recording it whatever happens.

Every plan, apply and drift check goes through :func:`plan_stack` or :func:`apply_stack`:
a run row is written before the engine starts (nothing is applied that cannot be
recorded), output is redacted and streamed to the run log, and the run is finished with
its status, plan summary, changes and error whatever fails once the row exists (the
engine raising, or its context failing to be prepared): no run is left ``running`` and
no stack ``applying`` by a failure. A failed run's log ends with its error in full, since
engines often fail before printing anything.

Each run changes the stack's record once per state change (:mod:`truenorth.core.states`
says to what): a plan or drift check when it ends, an apply when it starts and when it
ends. The sync state, error and health are written together with the run's ids, never
written and then corrected, so nobody reading the store sees a state in between.

Before the engine runs, the stack's ``inputs:`` are resolved from the outputs recorded
for its upstream stacks (:mod:`.resolving`): the engine gets them in its context, and the
run's redactor masks every sensitive one, and the stack's own sensitive outputs as last
recorded (:func:`.resolving.stored_secrets`). When one is not known yet (its stack was never
applied, or its pending plan changes that output), the engine is not called: the run
records a *waiting* plan that shows the input as "(known after network applies)", and
such a plan is never applied (:mod:`truenorth.core.guards`). An apply resolves the inputs
again and is refused when they differ from its plan's (stale inputs). A successful apply
records the stack's outputs, at the moment it records the applied revision.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from truenorth.controller.runs import carrying, resolving, runtime, sources
from truenorth.core import guards, inputs, outputs, plans, redaction, runs, specs, states
from truenorth.engines import protocol

__all__ = [
    "REPOSITORY_STACK",
    "Outcome",
    "apply_stack",
    "converge_stack",
    "input_from_record",
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
    """A recorded run: its id, the engine's result and, for plans, the plan.

    ``decision``: for a plan made with a ``direction``, what :func:`guards.after_plan`
    said follows it (nothing, apply, hold for approval, or wait for an input).
    ``basis``: what each input of the stack rested on when it was resolved
    (:attr:`truenorth.core.inputs.Resolution.basis`), for the loop's impact analysis.
    """

    run_id: int
    result: runs.RunResult
    plan: plans.Plan | None = None
    decision: guards.Decision | None = None
    basis: Mapping[str, str] = field(default_factory=dict)


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
    direction: guards.Direction | None = None,
    applied: str | None = None,
    drifted_before: bool = False,
    planned_upstream: Mapping[str, Sequence[outputs.Output]] | None = None,
    record_state: bool = True,
) -> Outcome:
    """Plan (or drift-check) ``stack`` at ``revision`` and record the run.

    ``on_start`` hears the run id as soon as the run row exists (before the engine runs).
    ``direction`` (from the ``applied`` revision): the guards decide what follows a plan
    with changes, and a held one leaves the stack ``pending-approval``; without one the
    caller applies it at once (a rollback, a self-heal) and the stack is ``out-of-sync``.
    ``drifted_before``: the previous drift check found drift (a drift check that finds
    none clears only the out-of-sync that drift caused). ``planned_upstream`` (a preview):
    upstream stack -> its planned outputs, read instead of its recorded ones
    (:func:`.resolving.resolve`). ``record_state=False`` (a preview): the run is recorded,
    the stack's state (sync state, pending plan) is left as it is, and the engine's shared
    state files are only read from the store (:mod:`.carrying`), never written to it; the
    engine plans read-only (``StackContext.read_only``): a preview holds no stack lock.
    """
    run_id = rt.store.start_run(
        stack=stack.name,
        repository=revision.key,
        revision=revision.sha,
        kind=kind.value,
        actor=actor,
        reason=reason,
        holder=rt.holder,
    )
    writer = _LogWriter(rt, run_id)
    redactor = redaction.Redactor()  # the run's own, once its secrets are known
    started = _now()
    plan: plans.Plan | None = None
    partial: plans.Plan | None = None  # what a failed plan checked before failing
    error = ""
    engine_ran = False
    basis: Mapping[str, str] = {}
    # From here on, whatever fails ends the run as a recorded failure: no run stays "running".
    try:
        if on_start is not None:
            on_start(run_id)
        resolution = resolving.resolve(
            rt.store,
            repository=revision.key,
            stack=stack,
            ignore_pending=kind is runs.RunKind.DRIFT,
            planned=planned_upstream,
        )
        basis = resolution.basis
        resolution.check()
        if resolution.waiting:
            plan = _waiting_plan(stack, revision, resolution.inputs)
            for line in plan.output.splitlines():
                writer.write(line)
        else:
            ctx = _context(
                rt,
                revision,
                stack,
                run_id=run_id,
                writer=writer,
                on_output=on_output,
                cancel=cancel,
                values=resolution.inputs,
                read_only=not record_state,
            )
            redactor = ctx.redactor
            engine = rt.engines.get(stack.engine)
            engine_ran = True
            # Shared state files in and out of the store (replicas); a preview only reads.
            with carrying.carried(rt, ctx, engine, read_only=not record_state):
                found = engine.drift(ctx) if kind is runs.RunKind.DRIFT else engine.plan(ctx)
            # The plan names the inputs it was made with (where each came from, its digest).
            plan = dataclasses.replace(found, inputs=_ordered(resolution.inputs))
    except (protocol.EngineError, inputs.InputError) as exc:
        error = redactor(str(exc))
        partial = exc.plan if isinstance(exc, protocol.PartialPlanError) else None
    except Exception as exc:  # an engine bug, or a failure before it ran: still a recorded failure
        error = redactor(_unexpected(exc, stack=stack, doing="planning", engine_ran=engine_ran))
    _log_error(writer, kind=kind.value, error=error)
    status = runs.RunStatus.SUCCEEDED if plan is not None else runs.RunStatus.FAILED
    shown = plan or partial  # a failed run keeps (and shows) the partial plan, never applies it
    result = runs.RunResult(
        stack=stack.name,
        kind=kind,
        status=status,
        revision=revision.sha,
        started_at=started,
        finished_at=_now(),
        plan=shown,
        output=shown.output if shown else "",
        error=error,
    )
    rt.store.finish_run(
        run_id,
        status=status.value,
        summary=_summary_record(shown),
        changes=[item.to_dict() for item in shown.changes] if shown else [],
        output=result.output,
        error=error,
    )
    decision = None
    waiting = guards.waiting_for(plan.inputs) if plan is not None else ()
    if plan is not None and direction is not None and kind is not runs.RunKind.DRIFT:
        decision = guards.after_plan(
            has_changes=plan.has_changes,
            auto_apply=stack.auto_apply,
            direction=direction,
            waiting=bool(waiting),
        )
    if not record_state:
        return Outcome(run_id=run_id, result=result, plan=plan, decision=decision, basis=basis)
    fields: dict[str, Any] = {"engine": stack.engine, "last_run_id": run_id}
    if kind is runs.RunKind.DRIFT:
        fields.update(_after_drift_check(rt, revision, stack, plan=plan, error=error, before=drifted_before))
    elif waiting:
        # Out of sync, and why: it cannot be applied before its inputs are known.
        note = guards.waiting_reason(stack=stack.name, waiting_for=waiting)
        fields.update(states.after_refused(error=note).fields())
        fields["pending_plan_id"] = run_id
    else:
        note = None
        if decision is guards.Decision.HOLD and direction is not None:
            note = guards.hold_reason(direction=direction, target=revision.sha, applied=applied)
        transition = states.after_plan(
            ok=plan is not None,
            has_changes=plan is not None and plan.has_changes,
            held=decision is guards.Decision.HOLD,
            error=error,
            note=note,
            health=plan.health if plan is not None else None,
        )
        fields.update(transition.fields())
        if plan is not None:
            fields["pending_plan_id"] = run_id if plan.has_changes else None
    rt.store.upsert_stack(repository=revision.key, name=stack.name, **fields)
    return Outcome(run_id=run_id, result=result, plan=plan, decision=decision, basis=basis)


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
    return _apply_run(
        rt, revision, stack, plan, plan_run_id=plan_run_id, on_output=on_output, actor=actor,
        reason=reason, cancel=cancel, on_start=on_start,
    )  # fmt: skip


def converge_stack(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    on_output: LineSink | None = None,
    actor: str | None = None,
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Outcome | None:
    """Apply ``stack`` at ``revision`` in one engine run, with no plan first; record the run.

    For an ``auto_apply`` stack going forward, where the guards would apply any plan by
    itself (the caller asks them), an engine that offers it
    (:func:`truenorth.engines.protocol.converges_in_one_run`: Ansible) runs once instead
    of check mode then the real run: the run is an apply whose recorded changes are what
    the real run changed. None, with nothing recorded, when it cannot: the engine does
    not offer it, or an input is not known or not resolvable (a plan says why); the caller
    then plans first, as for any other stack.
    """
    try:
        if not protocol.converges_in_one_run(rt.engines.get(stack.engine)):
            return None
        resolution = resolving.resolve(rt.store, repository=revision.key, stack=stack).check()
    except (protocol.EngineError, inputs.InputError):
        return None  # the plan that comes instead records why
    if resolution.waiting:
        return None
    outcome = _apply_run(
        rt, revision, stack, None, on_output=on_output, actor=actor, cancel=cancel, on_start=on_start
    )
    return dataclasses.replace(outcome, basis=resolution.basis)


def _apply_run(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    plan: plans.Plan | None,
    *,
    plan_run_id: int | None = None,
    on_output: LineSink | None = None,
    actor: str | None = None,
    reason: str | None = None,
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Outcome:
    """Apply ``plan`` (None: converge in one run, :func:`converge_stack`) and record the run."""
    run_id = rt.store.start_run(
        stack=stack.name,
        repository=revision.key,
        revision=revision.sha,
        kind=runs.RunKind.APPLY.value,
        actor=actor,
        reason=reason,
        plan_id=plan_run_id,
        holder=rt.holder,
    )
    writer = _LogWriter(rt, run_id)
    redactor = redaction.Redactor()  # the run's own, once its secrets are known
    started = _now()
    engine_ran = False
    # From here on, whatever fails ends the run (and the stack's "applying") as a failure.
    try:
        if on_start is not None:
            on_start(run_id)
        if plan is not None:
            resolved = _inputs_for_apply(rt, revision, stack, plan)
        else:
            resolved = _inputs_for_converge(rt, revision, stack)
        rt.store.upsert_stack(
            repository=revision.key,
            name=stack.name,
            engine=stack.engine,
            **states.after_apply_started().fields(),
        )
        ctx = _context(
            rt,
            revision,
            stack,
            run_id=run_id,
            writer=writer,
            on_output=on_output,
            cancel=cancel,
            values=resolved,
        )
        redactor = ctx.redactor
        engine = rt.engines.get(stack.engine)
        engine_ran = True
        with carrying.carried(rt, ctx, engine):  # shared state files in and out of the store
            if plan is not None:
                result = engine.apply(ctx, plan)
            elif protocol.converges_in_one_run(engine):
                result = engine.converge(ctx)
            else:
                raise protocol.EngineError(f"the {stack.engine} engine cannot apply without a plan")
    except (protocol.EngineError, inputs.InputError) as exc:
        result = _failed(stack, revision, started=started, error=redactor(str(exc)))
    except Exception as exc:
        error = _unexpected(exc, stack=stack, doing="applying", engine_ran=engine_ran)
        result = _failed(stack, revision, started=started, error=redactor(error))
    _log_error(
        writer, kind=runs.RunKind.APPLY.value, error=redactor(result.error), status=result.status.value
    )
    recorded = plan if plan is not None else result.plan
    rt.store.finish_run(
        run_id,
        status=result.status.value,
        # The engine's copy of the plan may add what the apply itself was (its sandbox);
        # a converge's is what its run changed.
        summary=_summary_record(result.plan if result.plan is not None else plan),
        changes=[item.to_dict() for item in recorded.changes] if recorded is not None else [],
        hosts=[host.to_dict() for host in result.hosts],
        output=redactor(result.output),
        error=redactor(result.error),
    )
    converged = result.status.deployed
    transition = states.after_apply(
        succeeded=result.status is runs.RunStatus.SUCCEEDED,
        error=redactor(result.error),
        health=result.health,
        cancelled=result.status is runs.RunStatus.CANCELLED,
    )
    fields: dict[str, Any] = {
        "engine": stack.engine,
        "last_run_id": run_id,
        "pending_plan_id": None,
        **transition.fields(),
    }
    if converged:
        fields.update(applied_revision=revision.sha, applied_at=result.finished_at)
    if result.status is runs.RunStatus.SUCCEEDED:
        # What dependents read from now on; sensitive values are sealed by the store.
        rt.store.replace_outputs(
            repository=revision.key,
            stack=stack.name,
            revision=revision.sha,
            outputs=result.outputs,
            run_id=run_id,
        )
    rt.store.upsert_stack(repository=revision.key, name=stack.name, **fields)
    return Outcome(run_id=run_id, result=result, plan=recorded)


def record_skipped(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    reason: str,
    transition: states.Transition | None = None,
) -> Outcome:
    """Record that ``stack`` was not applied (a dependency failed, a guard refused).

    ``transition``: the stack's new state, written with the run (else it stays).
    """
    now = _now()
    run_id = rt.store.record_run(
        stack=stack.name,
        repository=revision.key,
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
    if transition is not None:
        rt.store.upsert_stack(
            repository=revision.key, name=stack.name, engine=stack.engine, **transition.fields()
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
    """Rebuild a stored plan (an approved ``pending-approval`` plan, say) for applying.

    Its inputs come back as recorded: where each came from and its digest, sensitive
    values masked (an apply resolves the values again and compares the digests).
    """
    return plans.Plan(
        inputs=tuple(input_from_record(item) for item in summary.get("inputs") or ()),
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


def input_from_record(item: Mapping[str, Any]) -> outputs.InputValue:
    """An input as :func:`_summary_record` stored it."""
    known = bool(item.get("known", True))
    sensitive = bool(item.get("sensitive", False))
    ref = outputs.InputRef(
        name=str(item.get("name", "")), stack=str(item.get("stack", "")), output=str(item.get("output", ""))
    )
    return outputs.InputValue(
        ref=ref,
        value=item.get("value") if known and not sensitive else None,
        sensitive=sensitive,
        known=known,
        digest=str(item.get("digest", "")),
    )


def _input_record(item: outputs.InputValue) -> dict[str, Any]:
    """How a plan's input is stored with its run: never a sensitive value."""
    return {**item.to_dict(), "stack": item.ref.stack, "output": item.ref.output}


def _ordered(found: outputs.Input) -> tuple[outputs.InputValue, ...]:
    return tuple(found[name] for name in sorted(found))


def _waiting_plan(stack: specs.StackSpec, revision: sources.Revision, found: outputs.Input) -> plans.Plan:
    """The plan recorded instead of the engine's while an input is not known yet.

    It changes nothing and counts each unknown input as an unknown change, so the stack
    is not in sync; it is never applied (:func:`truenorth.core.guards.check_inputs_known`).
    """
    waiting = outputs.unknown_inputs(found)
    lines = [
        f"truenorth: {stack.name} is not planned yet: input {item.name} ({item.ref.source}) is "
        f"{item.placeholder().strip('()')}"
        for item in waiting
    ]
    return plans.Plan(
        stack=stack.name,
        engine=stack.engine,
        revision=revision.sha,
        changes=(),
        summary=plans.PlanSummary(unknown=len(waiting)),
        output="\n".join(lines),
        inputs=_ordered(found),
    )


def _inputs_for_apply(
    rt: runtime.Runtime, revision: sources.Revision, stack: specs.StackSpec, plan: plans.Plan
) -> outputs.Input:
    """The inputs to apply ``plan`` with, resolved now; refused (:class:`inputs.InputError`)
    when one is not known or differs from what the plan was made with (stale inputs)."""
    refusal = guards.check_inputs_known(stack=stack.name, inputs=plan.inputs)
    if refusal is None and not stack.inputs and not plan.inputs:
        return {}
    resolved: outputs.Input = {}
    if refusal is None:
        resolved = resolving.resolve(rt.store, repository=revision.key, stack=stack).check().inputs
        refusal = guards.check_inputs_current(stack=stack.name, planned=plan.inputs, current=resolved)
    if refusal is not None:
        raise inputs.InputError(f"not applied: {refusal.message}")
    return resolved


def _inputs_for_converge(
    rt: runtime.Runtime, revision: sources.Revision, stack: specs.StackSpec
) -> outputs.Input:
    """The inputs to converge with, resolved now: all known, or :class:`inputs.InputError`."""
    if not stack.inputs:
        return {}
    resolution = resolving.resolve(rt.store, repository=revision.key, stack=stack).check()
    waiting = guards.waiting_for(tuple(resolution.inputs.values()))
    if waiting:
        raise inputs.InputError(
            f"not applied: {guards.waiting_reason(stack=stack.name, waiting_for=waiting)}"
        )
    return resolution.inputs


def _context(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    run_id: int,
    writer: _LogWriter,
    on_output: LineSink | None,
    cancel: threading.Event | None,
    values: outputs.Input | None = None,
    read_only: bool = False,
) -> protocol.StackContext:
    secret_values = rt.secrets.for_stack(stack)
    redactor = redaction.Redactor(secret_values.values())
    redactor.add(*outputs.sensitive_values(values or {}))
    # Its own sensitive outputs as last applied: a tool may print one before declaring it.
    redactor.add(*resolving.stored_secrets(rt.store, repository=revision.key, stack=stack.name))
    run_dir = rt.layout.run(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_dir = rt.layout.state(stack.name, repository=revision.key, legacy=revision.legacy_key)
    state_dir.mkdir(parents=True, exist_ok=True)

    def sink(line: str) -> None:
        line = redactor(line)
        writer.write(line)
        if on_output is not None:
            on_output(line)

    return protocol.StackContext(
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
        sandbox=rt.sandbox(revision.key),
        limits=rt.limits,
        inputs=values or {},
        shared_state=rt.shared_state(revision.key),
        read_only=read_only,
    )


class _LogWriter:
    """Batches live output lines into the run log: one write per batch, not per line.

    A batch is written when it holds 200 lines or its first line waited half a second;
    a timer writes the tail of a burst half a second later, so the last lines a tool
    printed before going quiet (Terraform's "Still creating..." comes every 10 s) are not
    held until its next line. Batches are written one at a time, in order.
    """

    _BATCH_LINES = 200
    _BATCH_SECONDS = 0.5

    def __init__(self, rt: runtime.Runtime, run_id: int) -> None:
        self._rt = rt
        self.run_id = run_id
        self._pending: list[str] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._timer: threading.Timer | None = None

    def write(self, line: str) -> None:
        with self._lock:
            self._pending.append(line)
            due = (
                len(self._pending) >= self._BATCH_LINES
                or time.monotonic() - self._last >= self._BATCH_SECONDS
            )
            if not due and self._timer is None:
                self._timer = threading.Timer(self._BATCH_SECONDS, self._flush_tail)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        with self._writing:
            with self._lock:
                lines, self._pending = self._pending, []
                self._last = time.monotonic()
                timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            if lines:
                self._rt.store.append_log(self.run_id, lines)

    def _flush_tail(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the run's own final flush reports; a live tail only waits
            log.warning("cannot write the log of run %d: %s", self.run_id, exc)


def _unexpected(exc: Exception, *, stack: specs.StackSpec, doing: str, engine_ran: bool) -> str:
    """The error of a run that ended with an exception nobody expected (logged with its traceback)."""
    if engine_ran:
        log.exception("engine %s crashed while %s stack %s", stack.engine, doing, stack.name)
        return f"internal error in the {stack.engine} engine: {type(exc).__name__}: {exc}"
    log.exception("cannot prepare the run of stack %s", stack.name)
    return f"cannot prepare the run: {type(exc).__name__}: {exc}"


def _log_error(writer: _LogWriter, *, kind: str, error: str, status: str = "failed") -> None:
    """End the run's log with its error, in full (redacted already).

    Engines raise many errors before any output (a refused input, an init skipped on a
    retry), and the log is where people read a run: the error is always there.
    """
    try:
        if error:
            writer.write(f"truenorth: the {'drift check' if kind == 'drift' else kind} {status}:")
            for line in error.splitlines() or [error]:
                writer.write(line)
        writer.flush()
    except Exception as exc:  # the run must still be finished: its error is in the run itself
        log.warning("cannot write the log of run %d: %s", writer.run_id, exc)


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
        inputs=[_input_record(item) for item in plan.inputs],
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


def _after_drift_check(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    plan: plans.Plan | None,
    error: str,
    before: bool,
) -> dict[str, Any]:
    """The stack fields a drift check changes: its state only when the check says so."""
    record = rt.store.get_stack(repository=revision.key, name=stack.name)
    previous = states.SyncState.parse(record.sync_state if record is not None else None)
    transition = states.after_drift_check(
        previous,
        ok=plan is not None,
        drifted=plan is not None and plan.has_drift,
        drifted_before=before,
        error=error,
    )
    fields: dict[str, Any] = {}
    if plan is not None and plan.health is not None:
        fields["health"] = plan.health.value
    if transition is not None:
        fields.update(transition.fields())
    return fields


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
