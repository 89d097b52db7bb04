"""What the real API server does to an object on write: validation, defaults, controllers.

Validation answers with the real Status reasons (``Invalid`` 422, ``BadRequest`` 400)
and never echoes a Secret value. Defaults are the ones a client sees come back and
must not mistake for drift (a Service's ``clusterIP``, a container's
``imagePullPolicy``, a Deployment's ``strategy``). The simulated controllers give
workloads the status a real controller would write once pods are up, so health can be
tested; a test pauses one to keep its kind Progressing. Jobs (and Pods that run to
completion) finish at once with the status shape of Kubernetes 1.31+ (``startTime``,
``completionTime``, ``succeeded``, ``SuccessCriteriaMet`` and ``Complete`` conditions), or
fail as a Job over its ``backoffLimit`` does (``FailureTarget`` and ``Failed`` with reason
``BackoffLimitExceeded``) when a test marked them failing; a finished Job keeps its
status, and its ``spec.template`` is immutable, as on a real server.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Any

from tests.support.kubeapi import resources

__all__ = [
    "ApiFailure",
    "apply_defaults",
    "canonical_quantities",
    "check_immutable",
    "simulate_controller",
    "validate",
]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class ApiFailure(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _invalid(kind: resources.Kind, name: str, field: str, detail: str) -> ApiFailure:
    qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    return ApiFailure(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {field}: {detail}',
        {
            "name": name,
            "group": kind.group,
            "kind": kind.kind,
            "causes": [{"reason": "FieldValueInvalid", "field": field}],
        },
    )


def validate(kind: resources.Kind, obj: dict[str, Any]) -> None:
    """Raise :class:`ApiFailure` for what the real server would refuse."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    pattern = _LABEL if kind.kind in ("Namespace", "Service") else _SUBDOMAIN
    limit = 63 if pattern is _LABEL else 253
    if not isinstance(name, str) or not name:
        raise _invalid(kind, "", "metadata.name", "Required value: name or generateName is required")
    if len(name) > limit or not pattern.match(name):
        raise _invalid(
            kind, name, "metadata.name", f'Invalid value: "{name}": must be a lowercase RFC 1123 name'
        )
    for key, value in (metadata.get("labels") or {}).items():
        if not isinstance(value, str):
            raise ApiFailure(
                400,
                "BadRequest",
                "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
            )
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise _invalid(
                kind,
                name,
                f"metadata.labels: {key}",
                f'Invalid value: "{value}": a valid label must be 63 characters or less',
            )
    if kind.kind == "Secret":
        _validate_secret(obj)
    if kind.kind == "ConfigMap":
        for value in (obj.get("data") or {}).values():
            if not isinstance(value, str):
                raise ApiFailure(
                    400,
                    "BadRequest",
                    "json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
                )
    if kind.kind == "Deployment":
        spec = obj.get("spec") or {}
        selector = ((spec.get("selector") or {}).get("matchLabels")) or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not selector:
            raise _invalid(kind, name, "spec.selector", "Required value")
        if any(labels.get(k) != v for k, v in selector.items()):
            raise _invalid(
                kind,
                name,
                "spec.template.metadata.labels",
                "Invalid value: `selector` does not match template `labels`",
            )
        containers = (template.get("spec") or {}).get("containers") or []
        if not containers:
            raise _invalid(kind, name, "spec.template.spec.containers", "Required value")
        for index, container in enumerate(containers):
            if not container.get("image"):
                raise _invalid(kind, name, f"spec.template.spec.containers[{index}].image", "Required value")


def _validate_secret(obj: dict[str, Any]) -> None:
    # The real server fails while decoding JSON into a Secret; its message names no value.
    for value in (obj.get("stringData") or {}).values():
        if not isinstance(value, str):
            raise ApiFailure(
                400,
                "BadRequest",
                'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal number into Go struct field Secret.stringData of type string',
            )
    for value in (obj.get("data") or {}).values():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise ApiFailure(
                400,
                "BadRequest",
                'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4',
            ) from None


def check_immutable(kind: resources.Kind, previous: dict[str, Any], obj: dict[str, Any]) -> None:
    """Refuse a change to a field the real server never lets change (a Job's pod template)."""
    if kind.kind != "Job":
        return
    before = (previous.get("spec") or {}).get("template")
    after = (obj.get("spec") or {}).get("template")
    if before != after:
        raise _invalid(
            kind,
            obj["metadata"]["name"],
            "spec.template",
            "Invalid value: core.PodTemplateSpec{...}: field is immutable",
        )


def fold_string_data(obj: dict[str, Any]) -> None:
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _pod_spec_defaults(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers") or []:
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = ":" not in tag or tag.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _template(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return (
        template.get("spec")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict)
        else None
    )


def apply_defaults(kind: resources.Kind, obj: dict[str, Any], *, next_ip: str) -> None:
    name = obj["metadata"]["name"]
    spec = (
        obj.setdefault("spec", {})
        if kind.kind
        not in (
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "StorageClass",
            "PriorityClass",
        )
        else None
    )
    if kind.kind == "Namespace":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        assert spec is not None
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif kind.kind == "Secret":
        fold_string_data(obj)
        obj.setdefault("type", "Opaque")
    elif kind.kind == "Service":
        assert spec is not None
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName":
            spec.setdefault("clusterIP", next_ip)
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind.kind == "Deployment":
        assert spec is not None
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        )
    elif kind.kind == "StatefulSet":
        assert spec is not None
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    elif kind.kind == "DaemonSet":
        assert spec is not None
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
        )
    elif kind.kind == "Job":
        assert spec is not None
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
    elif kind.kind == "CustomResourceDefinition":
        assert spec is not None
        spec.setdefault("conversion", {"strategy": "None"})
    if kind.kind == "Pod" and spec is not None:
        _pod_spec_defaults(spec)
    template = _template(obj)
    if template is not None:
        _pod_spec_defaults(template)
    canonical_quantities(obj)
    if spec == {} and kind.kind not in ("Namespace",):
        obj.pop("spec", None)


def canonical_quantities(obj: dict[str, Any]) -> None:
    """Rewrite container resource quantities the way the server stores them (``0.5`` → ``500m``)."""
    templates = [obj.get("spec")] if obj.get("kind") == "Pod" else [_template(obj)]
    for spec in templates:
        for container in (spec or {}).get("containers") or []:
            for section in ("limits", "requests"):
                values = (container.get("resources") or {}).get(section) or {}
                for key, value in list(values.items()):
                    values[key] = _quantity(value)


def _quantity(value: Any) -> Any:
    text = str(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?", text)
    if match is None:
        return value
    number, suffix = float(match.group(1)), match.group(2) or ""
    if suffix == "" and number != int(number):
        return f"{round(number * 1000)}m"
    if suffix == "m" and number % 1000 == 0:
        return str(int(number // 1000))
    if suffix in ("Ki", "Mi") and number % 1024 == 0:
        return f"{int(number // 1024)}{'Mi' if suffix == 'Ki' else 'Gi'}"
    return text


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finished(obj: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _job_status(obj: dict[str, Any], *, failing: bool) -> dict[str, Any]:
    """What the Job controller writes once the Job's pods are done (Kubernetes 1.31+)."""
    spec = obj.get("spec") or {}
    now = _now()
    common = {"startTime": now, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}
    if failing:
        reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        return {
            **common,
            "failed": int(spec.get("backoffLimit", 6)) + 1,
            "conditions": [
                {"type": kind, "status": "True", "reason": reason, "message": message,
                 "lastProbeTime": now, "lastTransitionTime": now}
                for kind in ("FailureTarget", "Failed")
            ],
        }  # fmt: skip
    reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
    return {
        **common,
        "completionTime": now,
        "succeeded": int(spec.get("completions", 1)),
        "conditions": [
            {"type": kind, "status": "True", "reason": reason, "message": message,
             "lastProbeTime": now, "lastTransitionTime": now}
            for kind in ("SuccessCriteriaMet", "Complete")
        ],
    }  # fmt: skip


def simulate_controller(kind: resources.Kind, obj: dict[str, Any], *, failing: bool = False) -> None:
    """Write the status a healthy controller would report for the current spec.

    ``failing``: a Job fails (over its backoff limit) and a run-to-completion Pod ends Failed.
    """
    spec = obj.get("spec") or {}
    generation = obj["metadata"].get("generation", 1)
    replicas = spec.get("replicas", 1)
    if kind.kind == "Deployment":
        obj["status"] = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
    elif kind.kind == "StatefulSet":
        revision = f"{obj['metadata']['name']}-{generation}"
        obj["status"] = {
            "observedGeneration": generation,
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "currentRevision": revision,
            "updateRevision": revision,
        }
    elif kind.kind == "DaemonSet":
        obj["status"] = {
            "observedGeneration": generation,
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1,
            "numberAvailable": 1,
            "numberReady": 1,
        }
    elif kind.kind == "ReplicaSet":
        obj["status"] = {
            "observedGeneration": generation,
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
    elif kind.kind == "Job":
        if not _finished(obj):  # a finished Job keeps its status (its template cannot change)
            obj["status"] = _job_status(obj, failing=failing)
    elif kind.kind == "PersistentVolumeClaim":
        obj["status"] = {"phase": "Bound"}
    elif kind.kind == "Pod" and spec.get("restartPolicy", "Always") != "Always":
        phase = "Failed" if failing else "Succeeded"  # its containers ran to completion
        obj["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "False"}]}
    elif kind.kind == "Pod":
        obj["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    elif kind.kind == "Ingress" or (kind.kind == "Service" and spec.get("type") == "LoadBalancer"):
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
