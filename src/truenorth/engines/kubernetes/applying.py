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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from truenorth.core import runs
from truenorth.engines.kubernetes import client, health, inventory, objects, ordering, planning, targets

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
    """Apply the observation's targets in order, then prune; never raises for API failures."""
    outcome = Outcome()

    def note(line: str) -> None:
        outcome.lines.append(line)
        say(line)

    waits = _Wait(deadline=time.monotonic() + timeout, cancelled=cancelled, say=note)
    steps = ordering.apply_steps(target.manifest for target in observation.targets)
    by_ref = {target.ref: target for target in observation.targets}
    for step in steps:
        step_targets = [by_ref[objects.ObjectRef.of(obj)] for obj in step.objects]
        if not _apply_step(kube, step_targets, outcome=outcome, note=note, waits=waits):
            break
        crds = [t for t in step_targets if t.ref.kind == "CustomResourceDefinition"]
        if crds and not _wait_for(kube, crds, waits=waits, outcome=outcome, what="established"):
            break
        if (
            step.wave is not None
            and wait
            and not _wait_for(kube, step_targets, waits=waits, outcome=outcome, what="healthy")
        ):
            break
    known = observation.inventory
    recorded = inventory.Inventory.of(stack, [*known.refs, *outcome.applied], revision=known.revision)
    if not _save(state_dir, recorded, outcome=outcome):
        return outcome
    if outcome.status is not runs.RunStatus.SUCCEEDED:
        note("prune skipped: the apply did not complete")
        return outcome
    failed_deletes = _prune(kube, observation, outcome=outcome, note=note) if prune else []
    wanted = {target.ref for target in observation.targets}
    kept = [] if prune else [ref for ref in known.refs if ref not in wanted]
    outcome.kept.extend(kept)
    final = inventory.Inventory.of(
        stack, [*(t.ref for t in observation.targets), *failed_deletes, *kept], revision=revision
    )
    _save(state_dir, final, outcome=outcome)
    return outcome


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
    kube: client.KubeClient, step: Sequence[targets.Target], *, waits: _Wait, outcome: Outcome, what: str
) -> bool:
    """Poll until every object of ``step`` is settled; False (and the outcome failed) otherwise."""
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
        outcome.health.update(current)
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
