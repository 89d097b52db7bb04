"""Desired objects made ready for one cluster: scope, namespace and owner labels.

Between rendering (offline) and the API there is one step that needs the cluster:
discovery says whether each kind is namespaced and under which plural it is served.
A namespaced object without a namespace gets the stack's ``namespace`` option or the
context's namespace; a cluster-scoped one loses any namespace it was given. Every
object gets truenorth's owner labels (``app.kubernetes.io/managed-by: truenorth``,
``truenorth.io/stack: <name>``), which pruning later requires. A custom kind whose
CustomResourceDefinition is in the same stack but not yet served is resolved from
that CRD and marked ``pending``: it can be created once the CRD is established. With
the stack's ``create_namespace`` option, the stack's namespace is one more target
(unless the stack declares it): applied first like any Namespace, labelled like the
others, but never recorded in the inventory, so it is never pruned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from truenorth.engines.kubernetes import client, objects, scopes

__all__ = ["Target", "UnknownKindError", "namespace_object", "prepare", "resolve_type"]

Resolver = Callable[[str, str], "client.ResourceType | None"]


class UnknownKindError(LookupError):
    """A manifest's kind is neither served by the cluster nor defined by a CRD in the stack."""


@dataclass(frozen=True)
class Target:
    """One desired object as truenorth will apply it."""

    ref: objects.ObjectRef
    manifest: dict[str, Any]
    rtype: client.ResourceType
    #: Served only once a CRD applied in the same run is established.
    pending: bool = False
    #: False for the namespace ``create_namespace`` makes: never in the inventory, never pruned.
    recorded: bool = True


def namespace_object(name: str) -> dict[str, Any]:
    """The Namespace ``create_namespace`` applies."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


CrdScopes = dict[tuple[str, str], tuple[bool, str, tuple[str, ...]]]


def resolve_type(
    ref: objects.ObjectRef, *, resolve: Resolver, crds: CrdScopes
) -> tuple[client.ResourceType, bool]:
    """The kind's resource type and whether it is pending (defined by a CRD of the stack)."""
    rtype = resolve(ref.api_version, ref.kind)
    if rtype is not None:
        return rtype, False
    crd = crds.get((ref.group, ref.kind))
    if crd is None or ref.version not in crd[2]:
        raise UnknownKindError(
            f"{ref.address}: the cluster does not serve kind {ref.kind} in {ref.api_version}, "
            "and no CustomResourceDefinition in the stack defines it"
        )
    rtype = client.ResourceType(
        group=ref.group, version=ref.version, kind=ref.kind, plural=crd[1], namespaced=crd[0]
    )
    return rtype, True


def prepare(
    manifests: Sequence[Mapping[str, Any]],
    *,
    stack: str,
    namespace: str,
    resolve: Resolver,
    create_namespace: str | None = None,
) -> list[Target]:
    """Resolve, namespace and label every manifest; :class:`UnknownKindError` for an unknown kind.

    ``create_namespace``: the namespace to add as an unrecorded target (the stack's option).
    """
    crds = scopes.crd_scopes(manifests)
    targets: list[Target] = []
    items: list[tuple[Mapping[str, Any], bool]] = [(manifest, True) for manifest in manifests]
    if create_namespace and not any(
        item.get("kind") == "Namespace"
        and objects.ObjectRef.of(item).group == ""
        and objects.ObjectRef.of(item).name == create_namespace
        for item in manifests
    ):
        items.insert(0, (namespace_object(create_namespace), False))
    for manifest, recorded in items:
        ref = objects.ObjectRef.of(manifest)
        rtype, pending = resolve_type(ref, resolve=resolve, crds=crds)
        obj = copy.deepcopy(dict(manifest))
        metadata = obj["metadata"]
        if rtype.namespaced:
            metadata["namespace"] = ref.namespace or namespace
        else:
            metadata.pop("namespace", None)
        labels = metadata.get("labels")
        metadata["labels"] = {
            **(labels if isinstance(labels, Mapping) else {}),
            **objects.owner_labels(stack),
        }
        targets.append(
            Target(
                ref=objects.ObjectRef.of(obj), manifest=obj, rtype=rtype, pending=pending, recorded=recorded
            )
        )
    seen: set[objects.ObjectRef] = set()
    for target in targets:
        if target.ref in seen:
            raise objects.ManifestError(
                f"{target.ref.address} is declared twice (once without a namespace, which defaults to "
                f"{namespace!r})"
            )
        seen.add(target.ref)
    return targets
