"""Applying a stack: ordered server-side apply, waiting for health, then pruning.

The steps follow :mod:`~truenorth.engines.kubernetes.ordering`: Namespaces and CRDs
first (and the CRDs must be established before anything else goes), then each wave.
With ``wait`` on, a wave must be healthy before the next starts, like Argo CD's sync
waves; Degraded ends the run at once, anything else not healthy by the stack's
timeout ends it too. The inventory is written after the apply whatever happened, so
an object created by a failed run can still be pruned later. Pruning runs only after
everything applied (and, with ``wait``, became healthy): in reverse order, only
objects from the inventory that still carry this stack's owner labels. A failed
delete stays in the inventory for the next run (security cases 21 and 22).

Hooks (:mod:`~truenorth.engines.kubernetes.hooks`) run as phases around that:
``PreSync`` once the Namespaces and CRDs are there (a hook needs its namespace) and
before anything else is applied, ``Sync`` after the stack's objects, ``PostSync``
once everything is healthy and pruned (with ``wait: false`` the apply still waits for
health before them), ``SyncFail`` when any of it failed (with a fresh timeout of its
own; never after a cancel). Each phase goes wave by wave and waits for its hooks to
complete; the delete policies are honoured. Hooks never enter the inventory, and
neither does the namespace ``create_namespace`` makes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from truenorth.core import runs
from truenorth.engines.kubernetes import (
    client,
    health,
    hooks,
    inventory,
    objects,
    ordering,
    planning,
    targets,
)

__all__ = ["Outcome", "apply_steps"]

_POLL_FIRST = 0.1
_POLL_MAX = 2.0


@dataclass
class Outcome:
    """What an apply did, for the run record."""

    status: runs.RunStatus = runs.RunStatus.SUCCEEDED
    applied: list[objects.ObjectRef] = field(default_factory=list)
    pruned: list[objects.ObjectRef] = field(default_factory=list)
    kept: list[objects.ObjectRef] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    error: str = ""
    health: dict[str, health.Health] = field(default_factory=dict)

    def fail(self, message: str, *, status: runs.RunStatus = runs.RunStatus.FAILED) -> None:
        """Mark the run failed (the first failure is the one reported)."""
        if self.status is runs.RunStatus.SUCCEEDED:
            self.status = status
            self.error = message
        self.lines.append(f"error: {message}")


@dataclass(frozen=True)
class _Wait:
    """Deadline, cancel flag and line sink shared by the waits of one apply."""

    deadline: float
    cancelled: Callable[[float], bool]
    say: Callable[[str], None]


def apply_steps(
    kube: client.KubeClient,
    observation: planning.Observation,
    *,
    stack: str,
    revision: str,
    wait: bool,
    prune: bool,
    timeout: float,
    cancelled: Callable[[float], bool],
    say: Callable[[str], None],
    state_dir: Path,
) -> Outcome:
    """Run the hooks and apply the observation's targets in order, then prune; never raises
    for API failures."""
    outcome = Outcome()

    def note(line: str) -> None:
        outcome.lines.append(line)
        say(line)

    waits = _Wait(deadline=time.monotonic() + timeout, cancelled=cancelled, say=note)
    phases = {phase: [hook for hook in observation.hooks if phase in hook.phases] for phase in hooks.Phase}

    def run_phase(phase: hooks.Phase, within: _Wait) -> bool:
        return _run_hooks(kube, phases[phase], phase=phase, stack=stack, outcome=outcome, waits=within)

    def sync_fail() -> Outcome:
        if phases[hooks.Phase.SYNC_FAIL] and outcome.status is runs.RunStatus.FAILED:
            fresh = _Wait(deadline=time.monotonic() + timeout, cancelled=cancelled, say=note)
            run_phase(hooks.Phase.SYNC_FAIL, fresh)
        return outcome

    steps = ordering.apply_steps(target.manifest for target in observation.targets)
    bootstrap = [step for step in steps if step.wave is None]
    waves = [step for step in steps if step.wave is not None]
    if (
        _apply_targets(kube, observation, bootstrap, wait=wait, outcome=outcome, waits=waits)
        and run_phase(hooks.Phase.PRE_SYNC, waits)
        and _apply_targets(kube, observation, waves, wait=wait, outcome=outcome, waits=waits)
    ):
        run_phase(hooks.Phase.SYNC, waits)
    known = observation.inventory
    unrecorded = {target.ref for target in observation.targets if not target.recorded}
    applied = [ref for ref in outcome.applied if ref not in unrecorded]
    recorded = inventory.Inventory.of(stack, [*known.refs, *applied], revision=known.revision)
    if not _save(state_dir, recorded, outcome=outcome):
        return sync_fail()
    if outcome.status is not runs.RunStatus.SUCCEEDED:
        note("prune skipped: the apply did not complete")
        return sync_fail()
    failed_deletes = _prune(kube, observation, outcome=outcome, note=note) if prune else []
    wanted = {target.ref for target in observation.targets if target.recorded}
    kept = [] if prune else [ref for ref in known.refs if ref not in wanted]
    outcome.kept.extend(kept)
    final = inventory.Inventory.of(stack, [*wanted, *failed_deletes, *kept], revision=revision)
    _save(state_dir, final, outcome=outcome)
    # PostSync runs once everything is healthy: waited for already, unless wait is off.
    if (
        phases[hooks.Phase.POST_SYNC]
        and outcome.status is runs.RunStatus.SUCCEEDED
        and (wait or _wait_for(kube, observation.targets, waits=waits, outcome=outcome, what="healthy"))
    ):
        run_phase(hooks.Phase.POST_SYNC, waits)
    return sync_fail()


def _apply_targets(
    kube: client.KubeClient,
    observation: planning.Observation,
    steps: Sequence[ordering.Step],
    *,
    wait: bool,
    outcome: Outcome,
    waits: _Wait,
) -> bool:
    """Apply the stack's objects step by step; False once one fails."""
    by_ref = {target.ref: target for target in observation.targets}
    for step in steps:
        step_targets = [by_ref[objects.ObjectRef.of(obj)] for obj in step.objects]
        if not _apply_step(kube, step_targets, outcome=outcome, note=waits.say, waits=waits):
            return False
        crds = [t for t in step_targets if t.ref.kind == "CustomResourceDefinition"]
        if crds and not _wait_for(kube, crds, waits=waits, outcome=outcome, what="established"):
            return False
        if (
            step.wave is not None
            and wait
            and not _wait_for(kube, step_targets, waits=waits, outcome=outcome, what="healthy")
        ):
            return False
    return True


def _run_hooks(
    kube: client.KubeClient,
    phase_hooks: Sequence[hooks.Hook],
    *,
    phase: hooks.Phase,
    stack: str,
    outcome: Outcome,
    waits: _Wait,
) -> bool:
    """Run one phase's hooks wave by wave, each wave waited to complete; False when one failed."""
    if not phase_hooks:
        return True
    note = waits.say
    created = [hooks.instance(hook) for hook in phase_hooks]
    by_ref = {hook.ref: hook for hook in created}
    for step in ordering.apply_steps(hook.manifest for hook in created):
        step_hooks = [by_ref[objects.ObjectRef.of(obj)] for obj in step.objects]
        running: list[targets.Target] = []
        for hook in step_hooks:
            assert hook.rtype is not None  # prepared
            target = targets.Target(
                ref=hook.ref, manifest=hook.manifest, rtype=hook.rtype, pending=hook.pending
            )
            if hooks.Policy.BEFORE_HOOK_CREATION in hook.policies and not _delete_previous(
                kube, target, stack=stack, outcome=outcome, waits=waits
            ):
                return False
            if not _apply_step(kube, [target], outcome=outcome, note=lambda _line: None, waits=waits):
                return False
            outcome.applied.remove(target.ref)  # a hook is never in the inventory
            note(f"hook {phase.value}: applied {hook.ref.address}")
            running.append(target)
        statuses: dict[str, health.Health] = {}
        done = _wait_for(
            kube, running, waits=waits, outcome=outcome, what=f"complete ({phase.value} hooks)", into=statuses
        )
        for hook, target in zip(step_hooks, running, strict=True):
            status = statuses.get(hook.ref.address)
            succeeded = status is not None and status.status.settled
            failed = status is not None and status.status is health.HealthStatus.DEGRADED
            note(
                f"hook {phase.value}: {hook.ref.address} "
                + ("completed" if succeeded else "failed" if failed else "did not complete")
                + (f" ({status.message})" if status is not None and status.message else "")
            )
            policy = (
                hooks.Policy.HOOK_SUCCEEDED if succeeded else hooks.Policy.HOOK_FAILED if failed else None
            )
            if policy is not None and policy in hook.policies:
                try:
                    kube.delete(target.rtype, target.ref)
                    note(f"hook {phase.value}: deleted {hook.ref.address} ({policy.value})")
                except client.ClientError as exc:
                    note(f"hook {phase.value}: could not delete {hook.ref.address}: {exc}")
        if not done:
            return False
    return True


def _delete_previous(
    kube: client.KubeClient, target: targets.Target, *, stack: str, outcome: Outcome, waits: _Wait
) -> bool:
    """``BeforeHookCreation``: delete the hook's previous object (only one of this stack's) and
    wait until it is gone; False (the outcome failed) otherwise."""
    try:
        live = kube.get(target.rtype, target.ref)
        if live is None:
            return True
        if not hooks.is_ours(live, stack):
            outcome.fail(
                f"hook {target.ref.address} exists and was not made by truenorth for stack {stack}: "
                "refusing to replace it (delete it, or rename the hook)"
            )
            return False
        kube.delete(target.rtype, target.ref)
        waits.say(f"hook: deleted the previous {target.ref.address} (BeforeHookCreation)")
        pause = _POLL_FIRST
        while kube.get(target.rtype, target.ref) is not None:
            left = waits.deadline - time.monotonic()
            if left <= 0:
                outcome.fail(f"timed out waiting for the previous {target.ref.address} to be deleted")
                return False
            if waits.cancelled(min(pause, left)):
                outcome.fail(
                    "cancelled while waiting for a hook to be deleted", status=runs.RunStatus.CANCELLED
                )
                return False
            pause = min(pause * 2, _POLL_MAX)
    except client.ClientError as exc:
        outcome.fail(str(exc))
        return False
    return True


def _apply_step(
    kube: client.KubeClient,
    step: Sequence[targets.Target],
    *,
    outcome: Outcome,
    note: Callable[[str], None],
    waits: _Wait,
) -> bool:
    for target in step:
        rtype: client.ResourceType | None = target.rtype
        if target.pending:
            rtype = _served(kube, target, waits=waits)
            if rtype is None:
                outcome.fail(f"{target.ref.address}: the cluster does not serve {target.ref.kind} yet")
                return False
        assert rtype is not None
        try:
            kube.apply(rtype, target.manifest)
        except client.ClientError as exc:
            outcome.fail(str(exc))
            return False
        outcome.applied.append(target.ref)
        note(f"applied {target.ref.address}")
    return True


def _served(kube: client.KubeClient, target: targets.Target, *, waits: _Wait) -> client.ResourceType | None:
    """Discovery of a kind whose CRD was just established (an API server can lag a moment)."""
    pause = _POLL_FIRST
    while True:
        served = kube.resource_type(target.ref.api_version, target.ref.kind, refresh=True)
        left = waits.deadline - time.monotonic()
        if served is not None or left <= 0 or waits.cancelled(min(pause, left)):
            return served
        pause = min(pause * 2, _POLL_MAX)


def _wait_for(
    kube: client.KubeClient,
    step: Sequence[targets.Target],
    *,
    waits: _Wait,
    outcome: Outcome,
    what: str,
    into: dict[str, health.Health] | None = None,
) -> bool:
    """Poll until every object of ``step`` is settled; False (and the outcome failed) otherwise.

    The statuses seen go to ``into`` (default: the outcome's health of the stack's objects).
    """
    into = outcome.health if into is None else into
    pause = _POLL_FIRST
    while True:
        current: dict[str, health.Health] = {}
        try:
            for target in step:
                rtype = kube.resource_type(target.ref.api_version, target.ref.kind) or target.rtype
                current[target.ref.address] = health.assess(kube.get(rtype, target.ref))
        except client.ClientError as exc:
            outcome.fail(str(exc))
            return False
        into.update(current)
        degraded = {
            key: value for key, value in current.items() if value.status is health.HealthStatus.DEGRADED
        }
        if degraded:
            detail = "; ".join(f"{key}: {value.message}" for key, value in sorted(degraded.items()))
            outcome.fail(f"degraded while waiting for objects to be {what}: {detail}")
            return False
        waiting = {key: value for key, value in current.items() if not value.status.settled}
        if not waiting:
            return True
        left = waits.deadline - time.monotonic()
        if left <= 0:
            detail = "; ".join(
                f"{key}: {value.status.value}" + (f" ({value.message})" if value.message else "")
                for key, value in sorted(waiting.items())
            )
            outcome.fail(f"timed out waiting for objects to be {what}: {detail}")
            return False
        if waits.cancelled(min(pause, left)):
            outcome.fail("cancelled while waiting for health", status=runs.RunStatus.CANCELLED)
            return False
        pause = min(pause * 2, _POLL_MAX)


def _prune(
    kube: client.KubeClient,
    observation: planning.Observation,
    *,
    outcome: Outcome,
    note: Callable[[str], None],
) -> list[objects.ObjectRef]:
    failed: list[objects.ObjectRef] = []
    for live in observation.prune:
        ref = objects.ObjectRef.of(live)
        rtype = observation.types.get(ref)
        if rtype is None:
            continue
        try:
            current = kube.get(rtype, ref)
            if current is None:
                continue
            if not objects.is_owned_by(current, observation.inventory.stack):
                note(f"left alone {ref.address}: no longer labelled as this stack's")
                continue
            kube.delete(rtype, ref)
        except client.ClientError as exc:
            failed.append(ref)
            outcome.fail(f"prune failed: {exc}")
            continue
        outcome.pruned.append(ref)
        note(f"pruned {ref.address}")
    return failed


def _save(state_dir: Path, recorded: inventory.Inventory, *, outcome: Outcome) -> bool:
    try:
        inventory.save(state_dir, recorded)
    except inventory.InventoryError as exc:
        outcome.fail(str(exc))
        return False
    return True
