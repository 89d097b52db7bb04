"""Health of the rollout kinds: Deployment, StatefulSet, DaemonSet and ReplicaSet.

A rollout is done when its controller has seen the latest spec
(``status.observedGeneration`` ≥ ``metadata.generation``) and the updated replicas are
all there and available. Each check returns ``(status, message)`` with the status
spelled as in :class:`truenorth.engines.kubernetes.health.HealthStatus`; that module
wraps them. Shared status helpers live here too, so the two modules do not import
each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["condition", "daemon_set", "deployment", "replica_set", "spec_of", "stateful_set", "status_of"]


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``status`` as a mapping (empty when missing)."""
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``spec`` as a mapping (empty when missing)."""
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The status condition of type ``kind``, if the object has one."""
    conditions = status_of(obj).get("conditions")
    if isinstance(conditions, list):
        for item in conditions:
            if isinstance(item, Mapping) and item.get("type") == kind:
                return item
    return None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _generation_seen(obj: Mapping[str, Any]) -> bool:
    metadata = obj.get("metadata")
    generation = _int(metadata.get("generation"), 0) if isinstance(metadata, Mapping) else 0
    observed = status_of(obj).get("observedGeneration")
    if observed is None:
        return False
    return _int(observed, -1) >= generation


def deployment(obj: Mapping[str, Any]) -> tuple[str, str]:
    """Deployment: paused is Suspended, a passed progress deadline is Degraded."""
    spec, status = spec_of(obj), status_of(obj)
    if spec.get("paused") is True:
        return ("Suspended", "the deployment is paused")
    if not _generation_seen(obj):
        return ("Progressing", "waiting for the rollout to start (observed generation is behind)")
    progressing = condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return (
            "Degraded",
            f"the rollout exceeded its progress deadline: {progressing.get('message', '')}".rstrip(": "),
        )
    wanted = _int(spec.get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    replicas = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    if updated < wanted:
        return ("Progressing", f"{updated} of {wanted} replicas updated")
    if replicas > updated:
        return ("Progressing", f"{replicas - updated} old replicas are pending termination")
    if available < updated:
        return ("Progressing", f"{available} of {updated} updated replicas available")
    return ("Healthy", "")


def stateful_set(obj: Mapping[str, Any]) -> tuple[str, str]:
    """StatefulSet: ready replicas, partitioned rolling updates, and the current revision."""
    spec, status = spec_of(obj), status_of(obj)
    if not _generation_seen(obj):
        return ("Progressing", "waiting for the rollout to start (observed generation is behind)")
    wanted = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < wanted:
        return ("Progressing", f"{ready} of {wanted} replicas ready")
    strategy = spec.get("updateStrategy")
    strategy = strategy if isinstance(strategy, Mapping) else {}
    if strategy.get("type") == "OnDelete":
        return ("Healthy", "updates happen when pods are deleted (OnDelete)")
    rolling = strategy.get("rollingUpdate")
    partition = _int(rolling.get("partition")) if isinstance(rolling, Mapping) else 0
    if partition > 0:
        updated = _int(status.get("updatedReplicas"))
        if updated < wanted - partition:
            return (
                "Progressing",
                f"{updated} of {wanted - partition} replicas updated (partition {partition})",
            )
        return ("Healthy", f"partitioned rollout done ({partition} pods left on the old revision)")
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return ("Progressing", "waiting for the update to reach every replica")
    return ("Healthy", "")


def daemon_set(obj: Mapping[str, Any]) -> tuple[str, str]:
    """DaemonSet: every node scheduled with the updated pod, and available."""
    spec, status = spec_of(obj), status_of(obj)
    if not _generation_seen(obj):
        return ("Progressing", "waiting for the rollout to start (observed generation is behind)")
    strategy = spec.get("updateStrategy")
    if isinstance(strategy, Mapping) and strategy.get("type") == "OnDelete":
        return ("Healthy", "updates happen when pods are deleted (OnDelete)")
    wanted = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    if updated < wanted:
        return ("Progressing", f"{updated} of {wanted} pods updated")
    if available < wanted:
        return ("Progressing", f"{available} of {wanted} updated pods available")
    return ("Healthy", "")


def replica_set(obj: Mapping[str, Any]) -> tuple[str, str]:
    """ReplicaSet: a ReplicaFailure condition is Degraded, else wait for available replicas."""
    if not _generation_seen(obj):
        return ("Progressing", "waiting for the controller to observe the latest spec")
    failure = condition(obj, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return ("Degraded", str(failure.get("message") or "replica failure"))
    wanted = _int(spec_of(obj).get("replicas"), 1)
    available = _int(status_of(obj).get("availableReplicas"))
    if available < wanted:
        return ("Progressing", f"{available} of {wanted} replicas available")
    return ("Healthy", "")
