"""Resolving a stack's ``inputs:`` against the store: the one place both paths do it.

:mod:`.executing` calls :func:`resolve` before every plan, drift check and apply, for the
controller's loop and the CLI's ``plan``/``apply`` alike; the loop calls :func:`basis`
to tell whether an output a stack reads changed since its plan
(:func:`truenorth.core.impacts.input_moves`), and :func:`recorded_basis` for what the
stack's last plan rested on when the loop does not remember it (after a restart, on a
new owner). The rules are pure, in
:mod:`truenorth.core.inputs`; this module gathers the facts they need: each upstream
stack's record (applied or not, its engine, its pending plan) and its recorded outputs,
then unseals the sensitive ones a resolution uses (and only those).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence

from truenorth.core import inputs, plans, runs, specs
from truenorth.core import outputs as core_outputs
from truenorth.store import database, sealing
from truenorth.store import records as store_records

__all__ = ["basis", "recorded_basis", "resolve", "stored_secrets"]

log = logging.getLogger(__name__)


def resolve(
    store: database.Store,
    *,
    repository: str,
    stack: specs.StackSpec,
    ignore_pending: bool = False,
    planned: Mapping[str, Sequence[core_outputs.Output]] | None = None,
) -> inputs.Resolution:
    """``stack``'s inputs from the outputs recorded for ``repository``, sensitive ones unsealed.

    An input whose upstream was applied without the output it names is in
    :attr:`~truenorth.core.inputs.Resolution.problems` (``check()`` raises them).
    ``ignore_pending``: as :func:`truenorth.core.inputs.resolve`. ``planned`` (a
    preview): upstream stack -> the outputs its plan says it will have once applied
    (Terraform's known planned values, :attr:`~truenorth.core.plans.Plan.planned_outputs`);
    such an upstream's inputs take those values, and any other output of it is not known
    ("known after it applies").
    """
    planned = planned or {}
    resolution, records = _resolution(
        store, repository=repository, stack=stack, ignore_pending=ignore_pending, planned=planned
    )
    if not resolution.sealed:
        return resolution
    found = dict(resolution.inputs)
    for name in resolution.sealed:
        item = found[name]
        if item.ref.stack in planned:  # a planned sensitive value: in memory only, never stored
            value = {o.name: o.value for o in planned[item.ref.stack]}[item.ref.output]
        else:
            value = store.reveal(records[(item.ref.stack, item.ref.output)])
        found[name] = dataclasses.replace(item, value=value)
    return dataclasses.replace(resolution, inputs=found, sealed={})


def stored_secrets(store: database.Store, *, repository: str, stack: str) -> tuple[str, ...]:
    """The text forms of ``stack``'s own sensitive outputs as its last apply recorded them.

    A run's redactor masks them too: a tool may print a value before it says the value is
    sensitive (Ansible's ``set_stats`` is declared sensitive in ``outputs:``, but a task
    before it may echo it), so from the second apply on the live log never shows it. A
    value that cannot be unsealed (the key changed) is skipped: the run does not fail for it.
    """
    found: list[str] = []
    for record in store.stack_outputs(repository=repository, stacks=[stack]).get(stack, ()):
        if not record.sensitive:
            continue
        try:
            value = store.reveal(record)
        except sealing.SealingError as exc:
            log.warning("stack %s: cannot unseal output %s to mask it: %s", stack, record.name, exc)
            continue
        held = core_outputs.InputValue(
            ref=core_outputs.InputRef(record.name, stack, record.name), value=value, sensitive=True
        )
        found.extend(core_outputs.sensitive_values({record.name: held}))
    return tuple(found)


def basis(store: database.Store, *, repository: str, stack: specs.StackSpec) -> Mapping[str, str]:
    """What each of ``stack``'s inputs rests on now (nothing is unsealed): compared with the
    basis of its last plan, it says whether the stack must be planned again."""
    if not stack.inputs:
        return {}
    resolution, _ = _resolution(store, repository=repository, stack=stack, ignore_pending=False)
    return resolution.basis


#: The runs whose recorded inputs say what a stack's inputs rested on: the plans and
#: applies of the loop and the actions, and drift checks (made with the applied values).
_BASIS_KINDS = frozenset({runs.RunKind.PLAN.value, runs.RunKind.APPLY.value, runs.RunKind.DRIFT.value})
_BASIS_STATUSES = frozenset({runs.RunStatus.SUCCEEDED.value, runs.RunStatus.PARTIAL.value})


def recorded_basis(
    store: database.Store, *, repository: str, stack: specs.StackSpec
) -> dict[str, str] | None:
    """What ``stack``'s inputs rested on at its last recorded plan, from the store (None: no
    usable record), for a loop that does not remember it (:func:`truenorth.core.inputs.recorded_basis`).

    The record is the stack's pending plan, else its last run (``last_run_id``: a plan, an
    apply, which keeps the inputs of the plan it applied, or a drift check); previews never
    set either. A run that failed, or that recorded no inputs (made before inputs were
    recorded), is not usable: nothing is then reported, as before.
    """
    if not stack.inputs:
        return {}
    state = store.get_stack(repository=repository, name=stack.name)
    if state is None:
        return None
    run_id = state.pending_plan_id if state.pending_plan_id is not None else state.last_run_id
    run = store.get_run(run_id) if run_id is not None else None
    if (
        run is None
        or run.stack != stack.name
        or run.kind not in _BASIS_KINDS
        or run.status not in _BASIS_STATUSES
        or "inputs" not in (run.summary or {})
    ):
        return None
    recorded = [item for item in run.summary.get("inputs") or () if isinstance(item, Mapping)]
    return inputs.recorded_basis(stack.inputs, recorded)


def _resolution(
    store: database.Store,
    *,
    repository: str,
    stack: specs.StackSpec,
    ignore_pending: bool,
    planned: Mapping[str, Sequence[core_outputs.Output]] | None = None,
) -> tuple[inputs.Resolution, dict[tuple[str, str], store_records.OutputRecord]]:
    if not stack.inputs:
        return inputs.Resolution(inputs={}, basis={}), {}
    names = sorted({ref.stack for ref in stack.inputs})
    records: dict[tuple[str, str], store_records.OutputRecord] = {}
    recorded: dict[str, dict[str, inputs.Recorded]] = {name: {} for name in names}
    for upstream, found in store.stack_outputs(repository=repository, stacks=names).items():
        for record in found:
            records[(upstream, record.name)] = record
            recorded.setdefault(upstream, {})[record.name] = inputs.Recorded(
                name=record.name,
                value=None if record.sensitive else record.value,
                sensitive=record.sensitive,
                digest=record.digest,
            )
    upstreams = {}
    for name in names:
        state = store.get_stack(repository=repository, name=name)
        applied = state is not None and state.applied_revision is not None
        upstreams[name] = inputs.Upstream(
            stack=name,
            applied=applied or bool(recorded[name]),
            outputs=recorded[name],
            pending=_pending(store, state) if state is not None else None,
        )
    for name, values in (planned or {}).items():
        if name in upstreams:
            upstreams[name] = _planned_upstream(stack, name, values)
    resolution = inputs.resolve(
        stack=stack.name, refs=stack.inputs, upstreams=upstreams, ignore_pending=ignore_pending
    )
    return resolution, records


def _planned_upstream(
    stack: specs.StackSpec, name: str, planned: Sequence[core_outputs.Output]
) -> inputs.Upstream:
    """Upstream ``name`` as its plan (a preview) says it will be: its known planned outputs;
    an output it will have whose value is not known yet is "known after it applies"."""
    known = {item.name: item for item in planned}
    wanted = {ref.output for ref in stack.inputs if ref.stack == name}
    return inputs.Upstream(
        stack=name,
        applied=True,
        outputs={
            item.name: inputs.Recorded(
                name=item.name,
                value=None if item.sensitive else item.value,
                sensitive=item.sensitive,
                digest="planned" if item.sensitive else "",
            )
            for item in known.values()
        },
        pending=inputs.PendingPlan(outputs=frozenset(wanted - set(known))),
    )


def _pending(store: database.Store, state: store_records.StackRecord) -> inputs.PendingPlan | None:
    """What the upstream's stored, unapplied plan changes of its outputs (None: no such plan)."""
    if state.pending_plan_id is None:
        return None
    run = store.get_run(state.pending_plan_id)
    if run is None or run.kind != "plan" or run.status != "succeeded":
        return None
    summary = run.summary or {}
    if any(not item.get("known", True) for item in summary.get("inputs") or ()):
        # A waiting plan: what the stack's outputs become is not known at all yet.
        return inputs.PendingPlan(every_output=True)
    return inputs.pending_plan(
        engine=state.engine or "",
        changes=[plans.Change.from_dict(item) for item in run.changes],
        has_changes=bool(summary.get("has_changes", False)),
    )
