"""Working out what an apply would change: render, read the live state, diff.

:func:`observe` is the read-only half of a reconcile. It prepares the rendered
objects for the cluster, reads each one, asks the server for a dry-run server-side
apply of those that exist (so the prediction has the server's own defaults and
canonical forms, as ``kubectl diff`` does), and finds the prune candidates: objects in
the stack's inventory that left Git and still carry the stack's owner labels.
:func:`build_plan` turns that into a :class:`~truenorth.core.plans.Plan` whose
changes, diffs and health are all masked. Plans, drift checks and applies share it.
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
    inventory,
    masking,
    objects,
    ordering,
    targets,
)

__all__ = ["Observation", "build_plan", "fingerprint", "observe"]


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


def observe(
    kube: client.KubeClient,
    prepared: Sequence[targets.Target],
    *,
    stack: str,
    known: inventory.Inventory,
    predict: bool = True,
) -> Observation:
    """Read the live state of ``prepared`` and of the inventory's other objects."""
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
    wanted = {target.ref for target in prepared}
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


def fingerprint(*, revision: str, prepared: Sequence[targets.Target], known: inventory.Inventory) -> str:
    """What a plan was made from: the revision, the (masked) objects and the inventory."""
    digest = hashlib.sha256()
    digest.update(revision.encode("utf-8"))
    for target in sorted(prepared, key=lambda item: item.ref):
        shown = masking.mask_object(target.manifest)
        digest.update(json.dumps(shown, sort_keys=True, default=str).encode("utf-8"))
    digest.update(known.digest().encode("utf-8"))
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
    lines = [f"{_SIGNS.get(item.action, '?')} {item.action.value:<7} {item.address}" for item in changes]
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
    diffs = [item.diff for item in changes if item.diff and item.action is not plans.Action.NOOP]
    text = "\n".join(lines) + f"\n\nPlan: {headline}\n"
    if diffs:
        text += "\n" + "\n".join(diffs)
    return text


def _address(obj: Mapping[str, Any]) -> str:
    """The address of a live object (for output lines)."""
    return objects.ObjectRef.of(obj).address
