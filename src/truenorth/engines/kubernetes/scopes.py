"""Which kinds are cluster-scoped, when no API server can be asked.

Rendering runs offline (``truenorth render``, plans of a repository without a cluster),
yet the stack's ``namespace`` option must only be given to namespaced objects. The
built-in cluster-scoped kinds are listed here; custom kinds are cluster-scoped when a
CustomResourceDefinition in the same set says so. Once a cluster is reachable, its
discovery documents are the authority (:mod:`truenorth.engines.kubernetes.client`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BUILTIN_CLUSTER_KINDS", "cluster_scoped_kinds", "crd_scopes"]

BUILTIN_CLUSTER_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    }
)


def crd_scopes(
    manifests: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], tuple[bool, str, tuple[str, ...]]]:
    """For each CRD in ``manifests``: (group, kind) → (namespaced, plural, served versions)."""
    found: dict[tuple[str, str], tuple[bool, str, tuple[str, ...]]] = {}
    for obj in manifests:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            continue
        names = spec.get("names")
        group = spec.get("group")
        if not isinstance(names, Mapping) or not isinstance(group, str):
            continue
        kind, plural = names.get("kind"), names.get("plural")
        if not isinstance(kind, str) or not isinstance(plural, str):
            continue
        versions = tuple(
            str(item.get("name"))
            for item in spec.get("versions") or []
            if isinstance(item, Mapping) and item.get("served", True) and item.get("name")
        )
        found[(group, kind)] = (spec.get("scope", "Namespaced") != "Cluster", plural, versions)
    return found


def cluster_scoped_kinds(manifests: Iterable[Mapping[str, Any]]) -> frozenset[tuple[str, str]]:
    """Built-in cluster-scoped kinds plus those of cluster-scoped CRDs in ``manifests``."""
    custom = {key for key, (namespaced, _, _) in crd_scopes(manifests).items() if not namespaced}
    return BUILTIN_CLUSTER_KINDS | custom
