"""Identity of Kubernetes objects: which object a manifest or a live object is.

Every other module speaks about objects through :class:`ObjectRef` (API group, version,
kind, namespace, name): the diff pairs desired with live objects by it, the inventory
records it, the ordering sorts by it and plans show its :meth:`ObjectRef.address`.
The owner labels and the wave annotation truenorth reads and writes live here too, so
their spelling exists once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLUSTER_SCOPE",
    "FIELD_MANAGER",
    "GENERATED_MARK",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "STACK_LABEL",
    "WAVE_ANNOTATION",
    "ManifestError",
    "ObjectRef",
    "is_owned_by",
    "owner_labels",
    "split_api_version",
]

#: The field manager truenorth's server-side applies use.
FIELD_MANAGER = "truenorth"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "truenorth"
STACK_LABEL = "truenorth.io/stack"
WAVE_ANNOTATION = "truenorth.io/wave"
#: What an address shows in the namespace slot for cluster-scoped objects (no namespace
#: name can start with ``_``, so it never collides with a real one).
CLUSTER_SCOPE = "_cluster"
#: Ends the name of a ref made from ``generateName`` (a hook): not a valid name character.
GENERATED_MARK = "*"


class ManifestError(ValueError):
    """A manifest that is not a usable Kubernetes object (no kind, no name...)."""


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → ``("apps", "v1")``; ``v1`` → ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: group, kind, namespace (``""`` when cluster-scoped) and name.

    The version is kept for talking to the API, but two refs that differ only in
    version are the same object (``compare=False``), as they are for the API server.
    """

    group: str
    kind: str
    namespace: str
    name: str
    version: str = field(default="", compare=False)

    @classmethod
    def of(cls, obj: Mapping[str, Any], *, generated: bool = False) -> ObjectRef:
        """The ref of a manifest or a live object; :class:`ManifestError` when it has none.

        ``generated``: a manifest with ``generateName`` and no name (a hook, named when it
        is created) gets the name ``<generateName>*``, which no real object can have.
        """
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        metadata = obj.get("metadata")
        if not isinstance(api_version, str) or not api_version:
            raise ManifestError("an object has no apiVersion")
        if not isinstance(kind, str) or not kind:
            raise ManifestError(f"an object of apiVersion {api_version} has no kind")
        if not isinstance(metadata, Mapping):
            raise ManifestError(f"a {kind} has no metadata")
        name = metadata.get("name")
        prefix = metadata.get("generateName")
        if generated and not name and isinstance(prefix, str) and prefix:
            name = prefix + GENERATED_MARK
        if not isinstance(name, str) or not name:
            hint = (
                " (generateName is only supported for hooks: other objects need a fixed name)"
                if "generateName" in metadata
                else ""
            )
            raise ManifestError(f"a {kind} has no metadata.name{hint}")
        namespace = metadata.get("namespace") or ""
        if not isinstance(namespace, str):
            raise ManifestError(f"{kind} {name}: metadata.namespace must be a string")
        group, version = split_api_version(api_version)
        return cls(group=group, kind=kind, namespace=namespace, name=name, version=version)

    @property
    def generated(self) -> bool:
        """True for the ref of a hook named from ``generateName`` when it is created."""
        return self.name.endswith(GENERATED_MARK)

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def address(self) -> str:
        """``<group>/<kind>/<namespace>/<name>``; ``core`` for the core group, ``_cluster``
        for cluster-scoped objects (``apps/Deployment/web/frontend``)."""
        return f"{self.group or 'core'}/{self.kind}/{self.namespace or CLUSTER_SCOPE}/{self.name}"

    def with_namespace(self, namespace: str) -> ObjectRef:
        """The same object in ``namespace`` (``""`` for cluster scope)."""
        return ObjectRef(
            group=self.group, kind=self.kind, namespace=namespace, name=self.name, version=self.version
        )

    def to_dict(self) -> dict[str, str]:
        """Stable JSON form (inventory records)."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectRef:
        """Rebuild from :meth:`to_dict`; :class:`ManifestError` when a field is missing."""
        try:
            group, version = split_api_version(str(data["apiVersion"]))
            return cls(
                group=group,
                kind=str(data["kind"]),
                namespace=str(data.get("namespace") or ""),
                name=str(data["name"]),
                version=version,
            )
        except KeyError as exc:
            raise ManifestError(f"inventory entry without {exc.args[0]}") from None

    def __str__(self) -> str:
        return self.address


def owner_labels(stack: str) -> dict[str, str]:
    """The labels truenorth puts on every object it applies for ``stack``."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, STACK_LABEL: stack}


def is_owned_by(obj: Mapping[str, Any], stack: str) -> bool:
    """True when the live object carries truenorth's owner labels for ``stack``."""
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return False
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(STACK_LABEL) == stack
