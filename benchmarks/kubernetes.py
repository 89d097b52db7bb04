"""B7: the Kubernetes engine's plan of 10,000 objects, without the cluster (goal 2 s).

What ``KubernetesEngine.plan`` does after reading the cluster, through the engine's pure
functions: the plan's fingerprint (``planning.fingerprint``) and the plan itself
(``planning.build_plan``: normalize each desired, live and predicted object, cut them to
the fields truenorth sets or owned, diff, mask Secrets, assess health, write the text).
The objects are what a large stack holds: Deployments, Services, ConfigMaps and Secrets
in 20 namespaces; the live side carries what an API server adds (defaults, status,
``managedFields``, canonical quantities); 1 in 20 Deployments changes its image and 1 in
100 objects is new. The value is the median wall time of the two calls.
"""

from __future__ import annotations

import base64
import copy
import time
from typing import Any

from benchmarks.measuring import Measurement, Size, median
from truenorth.core import plans, specs
from truenorth.engines.kubernetes import client, fieldsets, inventory, normalizing, objects, planning, targets

__all__ = ["measure", "observation"]

GOAL_S = 2.0
STACK = "web"
REVISION = "a" * 40

_TYPES = {
    "Deployment": client.ResourceType(
        group="apps", version="v1", kind="Deployment", plural="deployments", namespaced=True
    ),
    "Service": client.ResourceType(
        group="", version="v1", kind="Service", plural="services", namespaced=True
    ),
    "ConfigMap": client.ResourceType(
        group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True
    ),
    "Secret": client.ResourceType(group="", version="v1", kind="Secret", plural="secrets", namespaced=True),
}


def _metadata(kind: str, index: int) -> dict[str, Any]:
    return {
        "name": f"{kind.lower()}-{index}",
        "namespace": f"team-{index % 20}",
        "labels": {"app": f"app-{index}", **objects.owner_labels(STACK)},
    }


def _desired(index: int) -> dict[str, Any]:
    slot = index % 10
    if slot < 4:
        image = "registry.example.test/app:2" if index % 50 == 0 else "registry.example.test/app:1"
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _metadata("Deployment", index),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": f"app-{index}"}},
                "template": {
                    "metadata": {"labels": {"app": f"app-{index}"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": image,
                                "ports": [{"containerPort": 8080}],
                                "env": [{"name": f"SETTING_{n}", "value": str(n)} for n in range(3)],
                                "resources": {
                                    "requests": {"cpu": "0.25", "memory": "256Mi"},
                                    "limits": {"cpu": "1", "memory": "1Gi"},
                                },
                            }
                        ]
                    },
                },
            },
        }
    if slot < 6:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata("Service", index),
            "spec": {"selector": {"app": f"app-{index}"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    if slot < 9:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata("ConfigMap", index),
            "data": {f"key-{n}": f"value {n} of {index}" for n in range(5)},
        }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata("Secret", index),
        "type": "Opaque",
        "data": {"password": base64.b64encode(f"secret-{index}".encode()).decode()},
    }


def _live(desired: dict[str, Any], index: int) -> dict[str, Any]:
    """What the API server returns for ``desired`` applied earlier (image app:1)."""
    live = copy.deepcopy(desired)
    metadata = live["metadata"]
    metadata.update(
        uid=f"00000000-0000-4000-8000-{index:012d}",
        resourceVersion=str(100000 + index),
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[
            {
                "manager": objects.FIELD_MANAGER,
                "operation": "Apply",
                "apiVersion": desired["apiVersion"],
                "fieldsType": "FieldsV1",
                "fieldsV1": fieldsets.fields_of(normalizing.normalize(desired)),
            }
        ],
    )
    kind = live["kind"]
    if kind == "Deployment":
        metadata["generation"] = 3
        metadata["annotations"] = {"deployment.kubernetes.io/revision": "3"}
        spec = live["spec"]
        spec.update(
            progressDeadlineSeconds=600,
            revisionHistoryLimit=10,
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        )
        pod = spec["template"]["spec"]
        pod.update(
            restartPolicy="Always",
            dnsPolicy="ClusterFirst",
            schedulerName="default-scheduler",
            terminationGracePeriodSeconds=30,
            securityContext={},
        )
        container = pod["containers"][0]
        container["image"] = "registry.example.test/app:1"
        container["ports"][0]["protocol"] = "TCP"
        container["resources"]["requests"]["cpu"] = "250m"
        container.update(
            imagePullPolicy="IfNotPresent",
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
        )
        live["status"] = {
            "observedGeneration": 3,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
    elif kind == "Service":
        spec = live["spec"]
        spec.update(
            type="ClusterIP",
            clusterIP=f"10.96.{index // 250 % 250}.{index % 250}",
            sessionAffinity="None",
            ipFamilies=["IPv4"],
            ipFamilyPolicy="SingleStack",
            internalTrafficPolicy="Cluster",
        )
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec["ports"][0]["protocol"] = "TCP"
        live["status"] = {"loadBalancer": {}}
    return live


def observation(count: int) -> tuple[planning.Observation, specs.StackSpec]:
    """``count`` desired objects with their live and predicted counterparts, and the stack."""
    prepared: list[targets.Target] = []
    live: dict[objects.ObjectRef, dict[str, Any] | None] = {}
    predicted: dict[objects.ObjectRef, dict[str, Any]] = {}
    for index in range(count):
        manifest = _desired(index)
        ref = objects.ObjectRef.of(manifest)
        prepared.append(targets.Target(ref=ref, manifest=manifest, rtype=_TYPES[manifest["kind"]]))
        if index % 100 == 99:
            live[ref] = None  # new in this revision
            continue
        current = _live(manifest, index)
        live[ref] = current
        result = copy.deepcopy(current)  # the server's dry run: the live object with the manifest applied
        if manifest["kind"] == "Deployment":
            image = manifest["spec"]["template"]["spec"]["containers"][0]["image"]
            result["spec"]["template"]["spec"]["containers"][0]["image"] = image
        predicted[ref] = result
    known = inventory.Inventory(stack=STACK, refs=tuple(sorted(r for r, o in live.items() if o is not None)))
    built = planning.Observation(
        targets=tuple(prepared),
        live=live,
        predicted=predicted,
        prune=(),
        disowned=(),
        gone=(),
        inventory=known,
    )
    spec = specs.parse_spec(f"stacks:\n  - {{name: {STACK}, engine: kubernetes, path: web}}\n")
    return built, spec.stack(STACK)


def _plan(built: planning.Observation, stack: specs.StackSpec) -> plans.Plan:
    """What the engine computes once it has read the cluster: the fingerprint, then the plan."""
    digest = planning.fingerprint(revision=REVISION, prepared=built.targets, known=built.inventory)
    return planning.build_plan(built, stack=stack, revision=REVISION, plan_fingerprint=digest)


def measure(size: Size) -> list[Measurement]:
    count = size.pick(10_000, 100)
    times: list[float] = []
    changes = 0
    for _ in range(size.pick(3, 1)):
        built, stack = observation(count)  # afresh each round, outside the clock
        started = time.perf_counter()
        made = _plan(built, stack)
        times.append(time.perf_counter() - started)
        changes = len(made.changed)
    took = median(times)
    return [
        Measurement(
            key="B7",
            title=f"Kubernetes plan (normalize + diff) of {count:,} objects, cluster reads excluded",
            value=round(took, 3),
            unit="s",
            goal=GOAL_S,
            detail={
                "objects": count,
                "changed": changes,
                "rounds": len(times),
                "per_object_ms": round(took / count * 1000, 3),
            },
        )
    ]
