"""Hook objects: run as phases around an apply, outside the diff and the prune inventory.

Argo CD's resource hooks, which users' repositories already carry: an object annotated
``argocd.argoproj.io/hook`` (or truenorth's own ``truenorth.io/hook``, which wins when
both are set) with a comma-separated list of phases is not part of the stack's desired
state but an action of the apply:

* ``PreSync`` hooks are applied first and must complete (a Job ``Complete``, a Pod
  ``Succeeded``; other kinds once they exist) before anything else is applied;
* ``Sync`` hooks are applied after the stack's objects and must complete too;
* ``PostSync`` hooks run once everything applied is healthy (and pruning is done);
* ``SyncFail`` hooks run when any of that failed; their own failure is reported but the
  run keeps its first error.

Within a phase, hooks go by wave and kind like other objects, each wave completed
before the next. ``Skip`` objects are never applied; ``PreDelete`` and ``PostDelete``
hooks never run (truenorth does not delete whole stacks); plans list both. The delete
policy (``argocd.argoproj.io/hook-delete-policy`` or ``truenorth.io/hook-delete-policy``)
is Argo CD's: ``HookSucceeded``, ``HookFailed``, ``BeforeHookCreation``, the latter the
default when none is given. A hook may use ``generateName``: it gets a fresh name each
time it runs. Hooks carry ``app.kubernetes.io/managed-by: truenorth`` and
``truenorth.io/hook-of: <stack>``, never the stack label, so they are never in the
inventory and never pruned; an existing object is only replaced (``BeforeHookCreation``)
when it carries one of this stack's labels. Pure, but for :func:`instance`'s random name.
"""

from __future__ import annotations

import copy
import enum
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from truenorth.engines.kubernetes import client, objects, scopes, targets

__all__ = [
    "DELETE_POLICY_ANNOTATIONS",
    "HOOK_ANNOTATIONS",
    "HOOK_OF_LABEL",
    "Hook",
    "Phase",
    "Policy",
    "Split",
    "hook_labels",
    "instance",
    "is_hook",
    "is_ours",
    "prepare",
    "split",
]

#: truenorth's own annotation first: it wins over Argo CD's when both are set.
HOOK_ANNOTATIONS = ("truenorth.io/hook", "argocd.argoproj.io/hook")
DELETE_POLICY_ANNOTATIONS = ("truenorth.io/hook-delete-policy", "argocd.argoproj.io/hook-delete-policy")
HOOK_OF_LABEL = "truenorth.io/hook-of"
#: Kubernetes' own alphabet for generated name suffixes (no vowels, no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
#: Phases that exist in Argo CD but never run here: the object is listed, never applied.
_NEVER_RUN = {
    "Skip": "Skip: never applied",
    "PreDelete": "PreDelete hook: never run (truenorth does not delete whole stacks)",
    "PostDelete": "PostDelete hook: never run (truenorth does not delete whole stacks)",
}


class Phase(enum.StrEnum):
    """When a hook runs."""

    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"


class Policy(enum.StrEnum):
    """When a hook object is deleted."""

    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"
    BEFORE_HOOK_CREATION = "BeforeHookCreation"


@dataclass(frozen=True)
class Hook:
    """One hook object as rendered (named, or with ``generateName``)."""

    ref: objects.ObjectRef
    manifest: dict[str, Any] = field(repr=False)
    phases: tuple[Phase, ...]
    policies: frozenset[Policy]
    #: Resolved for the cluster by :func:`prepare` (None until then).
    rtype: client.ResourceType | None = None
    #: Served only once a CRD applied in the same run is established.
    pending: bool = False

    @property
    def generated(self) -> bool:
        """True when the hook is named from ``generateName`` each time it runs."""
        return self.ref.generated

    def describe(self) -> str:
        """``PreSync batch/Job/web/migrate (delete: BeforeHookCreation)``, for plans and logs."""
        phases = ",".join(phase.value for phase in self.phases)
        policies = ",".join(sorted(policy.value for policy in self.policies))
        return f"{phases} {self.ref.address} (delete: {policies})"


@dataclass(frozen=True)
class Split:
    """A stack's rendered objects sorted into its desired state, its hooks and what never runs."""

    regular: tuple[dict[str, Any], ...]
    hooks: tuple[Hook, ...] = ()
    #: ``address: why`` of objects that are never applied (``Skip``, delete hooks).
    skipped: tuple[str, ...] = ()


def _annotation(obj: Mapping[str, Any], keys: Sequence[str]) -> Any:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    for key in keys:
        if key in annotations:
            return annotations[key]
    return None


def is_hook(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` carries a hook annotation (whatever its phases)."""
    return _annotation(obj, HOOK_ANNOTATIONS) is not None


def _values(raw: Any, *, what: str, ref: objects.ObjectRef) -> list[str]:
    if not isinstance(raw, str) or not raw.strip():
        raise objects.ManifestError(f"{ref.address}: annotation {what} must be a non-empty string")
    return [item.strip() for item in raw.split(",") if item.strip()]


def split(manifests: Iterable[dict[str, Any]]) -> Split:
    """Sort rendered objects into regular ones, hooks and skipped ones; :class:`ManifestError`
    for an unknown phase or delete policy (naming the object)."""
    regular: list[dict[str, Any]] = []
    found: list[Hook] = []
    skipped: list[str] = []
    phase_names = {phase.value: phase for phase in Phase}
    policy_names = {policy.value: policy for policy in Policy}
    for obj in manifests:
        raw = _annotation(obj, HOOK_ANNOTATIONS)
        if raw is None:
            regular.append(obj)
            continue
        ref = objects.ObjectRef.of(obj, generated=True)
        phases: list[Phase] = []
        never: list[str] = []
        for value in _values(raw, what="hook", ref=ref):
            if value in phase_names:
                phases.append(phase_names[value])
            elif value in _NEVER_RUN:
                never.append(_NEVER_RUN[value])
            else:
                known = ", ".join([*phase_names, *_NEVER_RUN])
                raise objects.ManifestError(f"{ref.address}: unknown hook {value[:60]!r} (known: {known})")
        raw_policy = _annotation(obj, DELETE_POLICY_ANNOTATIONS)
        policies: set[Policy] = set()
        if raw_policy is not None:
            for value in _values(raw_policy, what="hook-delete-policy", ref=ref):
                if value not in policy_names:
                    known = ", ".join(policy_names)
                    raise objects.ManifestError(
                        f"{ref.address}: unknown hook delete policy {value[:60]!r} (known: {known})"
                    )
                policies.add(policy_names[value])
        if not phases:
            skipped.extend(f"{ref.address}: {why}" for why in never)
            continue
        found.append(
            Hook(
                ref=ref,
                manifest=obj,
                phases=tuple(dict.fromkeys(phases)),
                policies=frozenset(policies or {Policy.BEFORE_HOOK_CREATION}),
            )
        )
    return Split(regular=tuple(regular), hooks=tuple(found), skipped=tuple(skipped))


def hook_labels(stack: str) -> dict[str, str]:
    """The labels of a hook object: managed by truenorth, a hook of ``stack`` (not its member)."""
    return {objects.MANAGED_BY_LABEL: objects.MANAGED_BY_VALUE, HOOK_OF_LABEL: stack}


def is_ours(live: Mapping[str, Any], stack: str) -> bool:
    """True when ``live`` is a hook of ``stack`` or one of its objects (it may be replaced)."""
    metadata = live.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping) or labels.get(objects.MANAGED_BY_LABEL) != objects.MANAGED_BY_VALUE:
        return False
    return labels.get(HOOK_OF_LABEL) == stack or labels.get(objects.STACK_LABEL) == stack


def prepare(
    found: Sequence[Hook],
    *,
    stack: str,
    namespace: str,
    resolve: targets.Resolver,
    manifests: Sequence[Mapping[str, Any]],
) -> tuple[Hook, ...]:
    """Resolve, namespace and label every hook (``manifests``: the stack's CRDs may define kinds)."""
    crds = scopes.crd_scopes(manifests)
    out: list[Hook] = []
    for hook in found:
        rtype, pending = targets.resolve_type(hook.ref, resolve=resolve, crds=crds)
        obj = copy.deepcopy(hook.manifest)
        metadata = obj["metadata"]
        if rtype.namespaced:
            metadata["namespace"] = hook.ref.namespace or namespace
        else:
            metadata.pop("namespace", None)
        labels = metadata.get("labels")
        metadata["labels"] = {**(labels if isinstance(labels, Mapping) else {}), **hook_labels(stack)}
        ref = objects.ObjectRef.of(obj, generated=True)
        out.append(
            Hook(
                ref=ref,
                manifest=obj,
                phases=hook.phases,
                policies=hook.policies,
                rtype=rtype,
                pending=pending,
            )
        )
    return tuple(out)


def instance(hook: Hook) -> Hook:
    """The hook as it is created this time: a ``generateName`` hook gets a fresh name."""
    if not hook.generated:
        return hook
    obj = copy.deepcopy(hook.manifest)
    metadata = obj["metadata"]
    prefix = str(metadata.pop("generateName"))
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    metadata["name"] = prefix + suffix
    return Hook(
        ref=objects.ObjectRef.of(obj),
        manifest=obj,
        phases=hook.phases,
        policies=hook.policies,
        rtype=hook.rtype,
        pending=hook.pending,
    )
