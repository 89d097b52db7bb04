"""Is a live object healthy? Ordered statuses, one check per kind, worst-of rollup.

Argo CD's statuses in Argo CD's order, best to worst: Healthy, Suspended, Progressing,
Missing, Degraded, Unknown. A stack's health is the worst of its objects'. Kinds
without a check (ConfigMaps, Roles...) are Healthy once they exist. Checks are pure
functions of the live object; the rollout kinds live in
:mod:`truenorth.engines.kubernetes.rollouts`, the rest here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from truenorth.core import states
from truenorth.engines.kubernetes import rollouts

__all__ = ["Health", "HealthStatus", "assess", "condition", "worst"]


#: The ordered health of one object or a whole stack: the controller's own
#: :class:`truenorth.core.states.Health` (``a.rank < b.rank`` means a is better), so an
#: engine's verdict reaches the stack as a value, never as text to parse back.
HealthStatus = states.Health


@dataclass(frozen=True)
class Health:
    """One object's health and why."""

    status: HealthStatus
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        """Stable JSON form."""
        return {"status": self.status.value, "message": self.message}


#: The worst of some statuses; Healthy when there are none.
worst = states.worst


def assess(live: Mapping[str, Any] | None) -> Health:
    """The health of ``live`` (None: the object does not exist)."""
    if live is None:
        return Health(HealthStatus.MISSING, "the object does not exist")
    metadata = live.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "being deleted")
    check = _CHECKS.get((_group(live), str(live.get("kind"))))
    if check is None:
        return Health(HealthStatus.HEALTHY)
    status, message = check(live)
    return Health(HealthStatus(status), message)


def _group(obj: Mapping[str, Any]) -> str:
    api_version = obj.get("apiVersion")
    return api_version.rpartition("/")[0] if isinstance(api_version, str) else ""


_status = rollouts.status_of
_spec = rollouts.spec_of
condition = rollouts.condition


_WAITING_FAILURES = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "InvalidImageName",
        "CreateContainerError",
        "RunContainerError",
    }
)


def _pod(obj: Mapping[str, Any]) -> tuple[str, str]:
    status = _status(obj)
    phase = status.get("phase")
    containers = [
        item
        for key in ("initContainerStatuses", "containerStatuses")
        for item in (status.get(key) or [])
        if isinstance(item, Mapping)
    ]
    for item in containers:
        state = item.get("state")
        waiting = state.get("waiting") if isinstance(state, Mapping) else None
        if isinstance(waiting, Mapping) and waiting.get("reason") in _WAITING_FAILURES:
            return ("Degraded", f"container {item.get('name')}: {waiting.get('reason')}")
    if phase == "Succeeded":
        return ("Healthy", "the pod completed")
    if phase == "Failed":
        return ("Degraded", str(status.get("message") or status.get("reason") or "the pod failed"))
    if phase == "Running":
        if _spec(obj).get("restartPolicy", "Always") != "Always":
            return ("Progressing", "the pod is running to completion")
        ready = condition(obj, "Ready")
        if ready is not None and ready.get("status") == "True":
            return ("Healthy", "")
        return ("Progressing", "waiting for the pod's containers to be ready")
    if phase == "Pending":
        return ("Progressing", "the pod is pending")
    return ("Unknown", f"pod phase {phase!r}" if phase else "the pod has no status yet")


def _job(obj: Mapping[str, Any]) -> tuple[str, str]:
    failed = condition(obj, "Failed")
    if failed is not None and failed.get("status") == "True":
        return ("Degraded", str(failed.get("message") or failed.get("reason") or "the job failed"))
    complete = condition(obj, "Complete")
    if complete is not None and complete.get("status") == "True":
        return ("Healthy", "the job completed")
    suspended = condition(obj, "Suspended")
    if _spec(obj).get("suspend") is True or (suspended is not None and suspended.get("status") == "True"):
        return ("Suspended", "the job is suspended")
    return ("Progressing", "the job is running")


def _pvc(obj: Mapping[str, Any]) -> tuple[str, str]:
    phase = _status(obj).get("phase")
    if phase == "Bound":
        return ("Healthy", "")
    if phase == "Lost":
        return ("Degraded", "the claim lost its volume")
    if phase == "Pending" or phase is None:
        return ("Progressing", "waiting for the claim to be bound")
    return ("Unknown", f"claim phase {phase!r}")


def _load_balanced(obj: Mapping[str, Any]) -> tuple[str, str]:
    balancer = _status(obj).get("loadBalancer")
    ingress = balancer.get("ingress") if isinstance(balancer, Mapping) else None
    if isinstance(ingress, list) and ingress:
        return ("Healthy", "")
    return ("Progressing", "waiting for a load balancer address")


def _service(obj: Mapping[str, Any]) -> tuple[str, str]:
    if _spec(obj).get("type") == "LoadBalancer":
        return _load_balanced(obj)
    return ("Healthy", "")


def _crd(obj: Mapping[str, Any]) -> tuple[str, str]:
    accepted = condition(obj, "NamesAccepted")
    if accepted is not None and accepted.get("status") == "False":
        return ("Degraded", str(accepted.get("message") or "the names were not accepted"))
    established = condition(obj, "Established")
    if established is not None and established.get("status") == "True":
        return ("Healthy", "")
    return ("Progressing", "waiting for the definition to be established")


_CHECKS: dict[tuple[str, str], Callable[[Mapping[str, Any]], tuple[str, str]]] = {
    ("apps", "Deployment"): rollouts.deployment,
    ("apps", "StatefulSet"): rollouts.stateful_set,
    ("apps", "DaemonSet"): rollouts.daemon_set,
    ("apps", "ReplicaSet"): rollouts.replica_set,
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("networking.k8s.io", "Ingress"): _load_balanced,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}
