"""Desired objects made ready for one cluster: scope, namespace and owner labels.

Between rendering (offline) and the API there is one step that needs the cluster:
discovery says whether each kind is namespaced and under which plural it is served.
A namespaced object without a namespace gets the stack's ``namespace`` option or the
context's namespace; a cluster-scoped one loses any namespace it was given. Every
object gets truenorth's owner labels (``app.kubernetes.io/managed-by: truenorth``,
``truenorth.io/stack: <name>``), which pruning later requires. A custom kind whose
CustomResourceDefinition is in the same stack but not yet served is resolved from
that CRD and marked ``pending``: it can be created once the CRD is established.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from truenorth.engines.kubernetes import client, objects, scopes

__all__ = ["Target", "UnknownKindError", "prepare"]

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


def prepare(
    manifests: Sequence[Mapping[str, Any]],
    *,
    stack: str,
    namespace: str,
    resolve: Resolver,
) -> list[Target]:
    """Resolve, namespace and label every manifest; :class:`UnknownKindError` for an unknown kind."""
    crds = scopes.crd_scopes(manifests)
    targets: list[Target] = []
    for manifest in manifests:
        ref = objects.ObjectRef.of(manifest)
        rtype = resolve(ref.api_version, ref.kind)
        pending = False
        if rtype is None:
            crd = crds.get((ref.group, ref.kind))
            if crd is None or ref.version not in crd[2]:
                raise UnknownKindError(
                    f"{ref.address}: the cluster does not serve kind {ref.kind} in {ref.api_version}, "
                    "and no CustomResourceDefinition in the stack defines it"
                )
            rtype = client.ResourceType(
                group=ref.group, version=ref.version, kind=ref.kind, plural=crd[1], namespaced=crd[0]
            )
            pending = True
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
        targets.append(Target(ref=objects.ObjectRef.of(obj), manifest=obj, rtype=rtype, pending=pending))
    seen: set[objects.ObjectRef] = set()
    for target in targets:
        if target.ref in seen:
            raise objects.ManifestError(f"{target.ref.address} is declared twice")
        seen.add(target.ref)
    return targets
