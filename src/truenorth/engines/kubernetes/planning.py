"""Working out what an apply would change: render, read the live state, diff.

:func:`observe` is the read-only half of a reconcile. It prepares the rendered
objects for the cluster, reads each one, asks the server for a dry-run server-side
apply of those that exist (so the prediction has the server's own defaults and
canonical forms, as ``kubectl diff`` does), and finds the prune candidates: objects in
the stack's inventory that left Git and still carry the stack's owner labels.
:func:`build_plan` turns that into a :class:`~truenorth.core.plans.Plan` whose
changes, diffs and health are all masked. Hooks (:mod:`~truenorth.engines.kubernetes.hooks`)
are not diffed: the plan lists them, with the phase they run in, after its changes.
Plans, drift checks and applies share it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from truenorth.core import plans, specs
from truenorth.engines.kubernetes import (
    client,
    diffing,
    health,
    hooks,
    inventory,
    masking,
    objects,
    ordering,
    targets,
)

__all__ = ["NATIVE_TEXT", "Observation", "build_plan", "fingerprint", "observe"]

#: ``Plan.meta`` key telling the CLI to print ``Plan.output`` as it is (the engine's own
#: rendering, as Terraform's ``terraform show`` text is): it lists hooks and notes too.
NATIVE_TEXT = "native_text"


@dataclass(frozen=True)
class Observation:
    """Desired objects with their live (and predicted) counterparts, and prune candidates."""

    targets: tuple[targets.Target, ...]
    live: Mapping[objects.ObjectRef, dict[str, Any] | None]
    predicted: Mapping[objects.ObjectRef, dict[str, Any]]
    prune: tuple[dict[str, Any], ...]
    #: In the inventory and out of Git, but no longer labelled as this stack's: never pruned.
    disowned: tuple[objects.ObjectRef, ...]
    #: In the inventory and out of Git, already gone from the cluster.
    gone: tuple[objects.ObjectRef, ...]
    inventory: inventory.Inventory
    #: Labelled as this stack's but in neither Git nor the inventory (a lost inventory,
    #: a copy made by hand): shown, never pruned.
    unlisted: tuple[objects.ObjectRef, ...] = ()
    types: Mapping[objects.ObjectRef, client.ResourceType] = field(default_factory=dict)
    #: Hook objects (prepared for the cluster): run as phases around the apply, never diffed.
    hooks: tuple[hooks.Hook, ...] = ()
    #: ``address: why`` of rendered objects never applied (``Skip``, delete hooks).
    skipped: tuple[str, ...] = ()


def observe(
    kube: client.KubeClient,
    prepared: Sequence[targets.Target],
    *,
    stack: str,
    known: inventory.Inventory,
    predict: bool = True,
    hooked: Sequence[hooks.Hook] = (),
    skipped: Sequence[str] = (),
) -> Observation:
    """Read the live state of ``prepared`` and of the inventory's other objects.

    ``hooked`` objects are only carried along; an inventory object that became a hook is
    never a prune candidate (the hook phase replaces it).
    """
    live: dict[objects.ObjectRef, dict[str, Any] | None] = {}
    predicted: dict[objects.ObjectRef, dict[str, Any]] = {}
    for target in prepared:
        if target.pending:
            live[target.ref] = None
            continue
        current = kube.get(target.rtype, target.ref)
        live[target.ref] = current
        if current is not None and predict:
            predicted[target.ref] = kube.apply(target.rtype, target.manifest, dry_run=True)
    wanted = {target.ref for target in prepared} | {hook.ref for hook in hooked if not hook.generated}
    prune: list[dict[str, Any]] = []
    disowned: list[objects.ObjectRef] = []
    gone: list[objects.ObjectRef] = []
    types: dict[objects.ObjectRef, client.ResourceType] = {}
    for ref in known.refs:
        if ref in wanted:
            continue
        rtype = kube.resource_type(ref.api_version, ref.kind)
        current = kube.get(rtype, ref) if rtype is not None else None
        if current is None or rtype is None:
            gone.append(ref)
        elif objects.is_owned_by(current, stack):
            prune.append(current)
            types[ref] = rtype
        else:
            disowned.append(ref)
    searched = {t.rtype for t in prepared if not t.pending} | set(types.values())
    unlisted = sorted(_unlisted(kube, searched, stack=stack, known={*wanted, *known.refs}))
    return Observation(
        targets=tuple(prepared),
        unlisted=tuple(unlisted),
        live=live,
        predicted=predicted,
        prune=tuple(ordering.prune_order(prune)),
        disowned=tuple(disowned),
        gone=tuple(gone),
        inventory=known,
        types=types,
        hooks=tuple(hooked),
        skipped=tuple(skipped),
    )


def _unlisted(
    kube: client.KubeClient, searched: set[client.ResourceType], *, stack: str, known: set[objects.ObjectRef]
) -> set[objects.ObjectRef]:
    found: set[objects.ObjectRef] = set()
    for rtype in searched:
        try:
            labelled = kube.list(rtype, labels=objects.owner_labels(stack))
        except client.ClientError as exc:
            if exc.code in (401, 403, 405):
                continue  # may not list this kind cluster-wide: nothing to report, nothing lost
            raise
        found.update(ref for ref in map(objects.ObjectRef.of, labelled) if ref not in known)
    return found


def fingerprint(
    *,
    revision: str,
    prepared: Sequence[targets.Target],
    known: inventory.Inventory,
    inputs: Sequence[tuple[str, str]] = (),
    hooked: Sequence[hooks.Hook] = (),
) -> str:
    """What a plan was made from: the revision, the (masked) objects, the inventory and the
    inputs (name and digest: a sensitive input substituted into a Secret is masked in the
    objects, so only its digest tells that it changed)."""
    digest = hashlib.sha256()
    digest.update(revision.encode("utf-8"))
    for target in sorted(prepared, key=lambda item: item.ref):
        # Only a Secret needs a masked copy: copying every object was a tenth of a large plan.
        shown = (
            masking.mask_object(target.manifest) if masking.is_secret(target.manifest) else target.manifest
        )
        digest.update(json.dumps(shown, sort_keys=True, default=str).encode("utf-8"))
    digest.update(known.digest().encode("utf-8"))
    for hook in sorted(hooked, key=lambda item: item.ref):
        shown = masking.mask_object(hook.manifest)
        digest.update(json.dumps(["hook", shown], sort_keys=True, default=str).encode("utf-8"))
    if inputs:
        digest.update(json.dumps(list(inputs)).encode("utf-8"))
    return digest.hexdigest()[:32]


def build_plan(
    observation: Observation,
    *,
    stack: specs.StackSpec,
    revision: str,
    plan_fingerprint: str,
) -> plans.Plan:
    """The masked plan: one change per desired object, plus deletes for prune candidates."""
    options = stack.kubernetes
    changes: list[plans.Change] = []
    ordered = sorted(observation.targets, key=lambda t: ordering.sort_key(t.manifest))
    for target in ordered:
        result = diffing.compare(
            target.manifest,
            observation.live.get(target.ref),
            predicted=observation.predicted.get(target.ref),
            ignore=options.ignore_differences,
        )
        reason = "its CustomResourceDefinition is created by this apply" if target.pending else ""
        if not target.recorded:
            reason = "create_namespace: the stack's namespace, never pruned"
        changes.append(_change(result, reason=reason))
    if options.prune:
        for gone in observation.prune:
            result = diffing.compare(None, gone)
            changes.append(
                _change(result, reason="applied by truenorth earlier and no longer in Git (prune)")
            )
    summary = plans.summarize(changes)
    statuses = {
        target.ref.address: health.assess(observation.live.get(target.ref)) for target in observation.targets
    }
    rolled = health.worst(item.status for item in statuses.values())
    output = _output(changes, observation=observation, prune=options.prune, headline=summary.headline())
    return plans.Plan(
        stack=stack.name,
        engine="kubernetes",
        revision=revision,
        changes=tuple(changes),
        summary=summary,
        output=output,
        fingerprint=plan_fingerprint,
        health=rolled,
        meta={
            "object_health": {key: value.to_dict() for key, value in statuses.items()},
            "left_alone": [ref.address for ref in observation.disowned],
            "unlisted": [ref.address for ref in observation.unlisted],
            "prune": options.prune,
            "hooks": [
                {
                    "address": hook.ref.address,
                    "phases": [phase.value for phase in hook.phases],
                    "delete_policies": sorted(policy.value for policy in hook.policies),
                }
                for hook in observation.hooks
            ],
            "skipped": list(observation.skipped),
            NATIVE_TEXT: True,
        },
    )


def _change(result: diffing.ObjectDiff, *, reason: str) -> plans.Change:
    return plans.Change(
        address=result.ref.address,
        action=result.action,
        resource_type=result.ref.kind,
        name=result.ref.name,
        before=result.before,
        after=result.after,
        diff=result.diff,
        reason=reason,
    )


_SIGNS = {
    plans.Action.CREATE: "+",
    plans.Action.UPDATE: "~",
    plans.Action.DELETE: "-",
    plans.Action.NOOP: " ",
}


def _output(changes: list[plans.Change], *, observation: Observation, prune: bool, headline: str) -> str:
    lines = [
        f"{_SIGNS.get(item.action, '?')} {item.action.value:<7} {item.address}"
        + (f"  ({item.reason})" if item.reason else "")
        for item in changes
        if item.action is not plans.Action.NOOP
    ]
    unchanged = sum(1 for item in changes if item.action is plans.Action.NOOP)
    if unchanged:  # listed in the plan's changes (JSON), not in its text, as Terraform does
        lines.append(f"  ({unchanged} unchanged object{'s' if unchanged != 1 else ''} not shown)")
    if observation.disowned:
        lines.append("")
        lines.extend(
            f"  left alone {ref.address}: no longer labelled as this stack's, so never pruned"
            for ref in observation.disowned
        )
    if observation.unlisted:
        lines.append("")
        lines.extend(
            f"  not in inventory {ref.address}: labelled as this stack's but never recorded, so never pruned"
            for ref in observation.unlisted
        )
    if observation.prune and not prune:
        lines.append("")
        lines.extend(
            f"  not pruned {_address(obj)}: prune is off for this stack" for obj in observation.prune
        )
    if observation.hooks:
        lines.append("")
        lines.append("Hooks (run with the apply, in this order; not diffed, never pruned):")
        order = {phase: rank for rank, phase in enumerate(hooks.Phase)}
        listed = sorted(observation.hooks, key=lambda hook: (order[hook.phases[0]], hook.ref))
        lines.extend(f"  hook {hook.describe()}" for hook in listed)
    if observation.skipped:
        lines.append("")
        lines.extend(f"  skipped {item}" for item in observation.skipped)
    diffs = [item.diff.rstrip("\n") for item in changes if item.diff and item.action is not plans.Action.NOOP]
    text = "\n".join(lines) + "\n"
    if diffs:  # like `kubectl diff`, then the headline last, as `terraform plan` ends
        text += "\n" + "\n\n".join(diffs) + "\n"
    return text + f"\nPlan: {headline}\n"


def _address(obj: Mapping[str, Any]) -> str:
    """The address of a live object (for output lines)."""
    return objects.ObjectRef.of(obj).address
