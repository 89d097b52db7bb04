"""In which order objects are applied and pruned: bootstrap kinds, then waves, then kinds.

Argo CD users know the rule: Namespaces and CustomResourceDefinitions go first (objects
in a namespace, or of a custom kind, cannot be created before it exists), then the
rest by sync wave (here the ``truenorth.io/wave`` annotation, an integer, default 0),
then by kind in dependency order (ServiceAccounts, Secrets and ConfigMaps before the
workloads that mount them, Services before Deployments, Ingresses late), then by
namespace and name so plans read the same every time. Pruning goes in exactly the
reverse order. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from truenorth.engines.kubernetes import objects

__all__ = ["BOOTSTRAP_KINDS", "Step", "apply_steps", "prune_order", "sort_key", "wave_of"]

BOOTSTRAP_KINDS = ("Namespace", "CustomResourceDefinition")

# Dependencies first: what others refer to comes before what refers to it.
_KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(_KIND_ORDER)}
_WAVE = re.compile(r"^[+-]?\d{1,9}$")


@dataclass(frozen=True)
class Step:
    """Objects applied together. ``wave`` is None for the bootstrap step (Namespaces, CRDs)."""

    wave: int | None
    objects: tuple[dict[str, Any], ...]

    @property
    def label(self) -> str:
        """``namespaces and CRDs`` or ``wave N``, for logs."""
        return "namespaces and CRDs" if self.wave is None else f"wave {self.wave}"


def wave_of(obj: Mapping[str, Any]) -> int:
    """The object's ``truenorth.io/wave`` (default 0); :class:`ManifestError` when it is not an integer."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping) or objects.WAVE_ANNOTATION not in annotations:
        return 0
    raw = annotations[objects.WAVE_ANNOTATION]
    if not isinstance(raw, str) or not _WAVE.match(raw.strip()):
        ref = objects.ObjectRef.of(obj)
        raise objects.ManifestError(
            f'{ref.address}: annotation {objects.WAVE_ANNOTATION} must be an integer in quotes, like "1"'
        )
    return int(raw.strip())


def sort_key(obj: Mapping[str, Any], *, strict: bool = True) -> tuple[int, int, int, str, str, str]:
    """The apply order key: bootstrap first, then wave, kind rank, kind, namespace, name.

    With ``strict=False`` (live objects about to be pruned) a bad wave counts as 0.
    """
    ref = objects.ObjectRef.of(obj)
    bootstrap = 0 if ref.kind in BOOTSTRAP_KINDS else 1
    try:
        wave = 0 if bootstrap == 0 else wave_of(obj)
    except objects.ManifestError:
        if strict:
            raise
        wave = 0
    rank = _KIND_RANK.get(ref.kind, len(_KIND_ORDER))
    return (bootstrap, wave, rank, ref.kind, ref.namespace, ref.name)


def apply_steps(manifests: Iterable[Mapping[str, Any]]) -> list[Step]:
    """Group objects into ordered steps: the bootstrap step, then one step per wave."""
    ordered = sorted((dict(obj) for obj in manifests), key=sort_key)
    steps: list[Step] = []
    current: list[dict[str, Any]] = []
    current_wave: int | None = None
    started = False
    for obj in ordered:
        wave = None if objects.ObjectRef.of(obj).kind in BOOTSTRAP_KINDS else wave_of(obj)
        if started and wave != current_wave:
            steps.append(Step(wave=current_wave, objects=tuple(current)))
            current = []
        current_wave, started = wave, True
        current.append(obj)
    if current:
        steps.append(Step(wave=current_wave, objects=tuple(current)))
    return steps


def prune_order(live: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Objects to prune, in reverse apply order (last wave first, Namespaces and CRDs last)."""
    return sorted((dict(obj) for obj in live), key=lambda obj: sort_key(obj, strict=False), reverse=True)
