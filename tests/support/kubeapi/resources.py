"""The kinds the test API server serves, and its discovery documents.

Built-in kinds are declared here with their real plural, scope and subresources, as a
Kubernetes 1.32 API server reports them. Custom kinds appear once their
CustomResourceDefinition is established, exactly as on a real server, so a client
that applies a custom object too early gets the real 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BUILTIN", "Kind", "api_group_list", "api_resource_list", "api_versions", "version_info"]

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    status: bool = False
    generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    def resource_entries(self) -> list[dict[str, object]]:
        entries: list[dict[str, object]] = [
            {
                "name": self.plural,
                "singularName": self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(_VERBS),
                "storageVersionHash": "tn" + self.plural[:8],
            }
        ]
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


BUILTIN: tuple[Kind, ...] = (
    Kind("", "v1", "Namespace", "namespaces", False, status=True),
    Kind("", "v1", "ConfigMap", "configmaps", True),
    Kind("", "v1", "Secret", "secrets", True),
    Kind("", "v1", "Service", "services", True, status=True),
    Kind("", "v1", "ServiceAccount", "serviceaccounts", True),
    Kind("", "v1", "Pod", "pods", True, status=True),
    Kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, status=True),
    Kind("", "v1", "PersistentVolume", "persistentvolumes", False, status=True),
    Kind("", "v1", "LimitRange", "limitranges", True),
    Kind("", "v1", "ResourceQuota", "resourcequotas", True, status=True),
    Kind("apps", "v1", "Deployment", "deployments", True, status=True, generation=True),
    Kind("apps", "v1", "StatefulSet", "statefulsets", True, status=True, generation=True),
    Kind("apps", "v1", "DaemonSet", "daemonsets", True, status=True, generation=True),
    Kind("apps", "v1", "ReplicaSet", "replicasets", True, status=True, generation=True),
    Kind("batch", "v1", "Job", "jobs", True, status=True, generation=True),
    Kind("batch", "v1", "CronJob", "cronjobs", True, status=True, generation=True),
    Kind("networking.k8s.io", "v1", "Ingress", "ingresses", True, status=True, generation=True),
    Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, generation=True),
    Kind("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    Kind("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    Kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    Kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Kind(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        status=True,
        generation=True,
    ),
    Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, status=True, generation=True),
    Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, status=True),
    Kind("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    Kind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False),
)


def api_versions(address: str) -> dict[str, object]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_resource_list(group_version: str, kinds: Iterable[Kind]) -> dict[str, object]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [entry for kind in kinds for entry in kind.resource_entries()],
    }


def api_group_list(kinds: Iterable[Kind]) -> dict[str, object]:
    groups: dict[str, list[str]] = {}
    for kind in kinds:
        if kind.group:
            versions = groups.setdefault(kind.group, [])
            if kind.version not in versions:
                versions.append(kind.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(name, versions) for name, versions in groups.items()],
    }


def api_group(name: str, versions: list[str]) -> dict[str, object]:
    listed = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": listed,
        "preferredVersion": listed[0],
    }


def version_info() -> dict[str, str]:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-truenorth-test",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
