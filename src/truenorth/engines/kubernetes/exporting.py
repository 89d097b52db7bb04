"""Reading a Kubernetes stack's declared outputs from its applied objects.

A Kubernetes stack hands values to other stacks by naming fields of the objects it
applied: ``outputs: {lb_ip: {object: v1/Service/web, path: .status.loadBalancer.ingress[0].ip}}``.
``object`` is ``[GROUP/]VERSION/KIND/NAME``, ``namespace`` defaults to the stack's, and
``path`` is a :mod:`truenorth.core.fieldpaths` path. The engine reads them once the apply
reached health (after the wait), from the live objects, so that server-filled fields
(a load balancer's address, a generated cluster IP) can be handed on. A value read
from a Secret is always sensitive. A missing object or field fails the apply: a
dependent cannot use an output that is not there. Errors name the output, the path and
the object, never a value.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from truenorth.core import fieldpaths, outputs, specs
from truenorth.engines.kubernetes import client, objects

__all__ = ["ExportError", "Source", "read_outputs", "sources"]


class ExportError(ValueError):
    """An output that cannot be read; the message never contains a value."""


@dataclass(frozen=True)
class Source:
    """Where one output is read from: the object, and the path inside it."""

    name: str
    sensitive: bool
    object: str
    api_version: str
    kind: str
    object_name: str
    namespace: str
    path: str
    steps: tuple[fieldpaths.Step, ...]

    @property
    def is_secret(self) -> bool:
        """True when the value comes from a core ``v1`` Secret (always sensitive)."""
        return self.api_version == "v1" and self.kind == "Secret"


def sources(declared: Sequence[specs.OutputSpec], *, namespace: str) -> tuple[Source, ...]:
    """The stack's ``outputs:`` made ready to read; :class:`ExportError` for an unusable one."""
    found: list[Source] = []
    for spec in declared:
        if not spec.object or not spec.path:
            raise ExportError(
                f"output {spec.name}: a Kubernetes output needs object ([GROUP/]VERSION/KIND/NAME) and path"
            )
        parts = spec.object.split("/")
        if len(parts) not in (3, 4) or not all(parts):
            raise ExportError(
                f"output {spec.name}: object must be [GROUP/]VERSION/KIND/NAME (like v1/Service/web), "
                f"not {spec.object!r}"
            )
        *api, kind, name = parts
        try:
            steps = fieldpaths.parse(spec.path)
        except fieldpaths.FieldPathError as exc:
            raise ExportError(f"output {spec.name}: path {spec.path!r}: {exc}") from None
        api_version = "/".join(api)
        source = Source(
            name=spec.name,
            sensitive=spec.sensitive,
            object=spec.object,
            api_version=api_version,
            kind=kind,
            object_name=name,
            namespace=spec.namespace or namespace,
            path=spec.path,
            steps=steps,
        )
        found.append(source)
    return tuple(found)


def read_outputs(kube: client.KubeClient, declared: Sequence[Source]) -> tuple[outputs.Output, ...]:
    """Each output's value from its live object; :class:`ExportError` for a missing one.

    Raises :class:`~truenorth.engines.kubernetes.client.ClientError` when the API fails.
    """
    read: list[outputs.Output] = []
    for source in declared:
        rtype = kube.resource_type(source.api_version, source.kind)
        if rtype is None:
            raise ExportError(
                f"output {source.name}: the cluster does not serve {source.kind} in {source.api_version}"
            )
        group, version = objects.split_api_version(source.api_version)
        ref = objects.ObjectRef(
            group=group,
            kind=source.kind,
            namespace=source.namespace if rtype.namespaced else "",
            name=source.object_name,
            version=version,
        )
        live = kube.get(rtype, ref)
        where = source.object + (f" in namespace {ref.namespace}" if ref.namespace else "")
        if live is None:
            raise ExportError(f"output {source.name}: {where} does not exist")
        try:
            value: Any = fieldpaths.extract(live, source.steps)
        except fieldpaths.FieldPathError as exc:
            raise ExportError(f"output {source.name}: no field {source.path} on {where} ({exc})") from None
        sensitive = source.sensitive or source.is_secret
        read.append(outputs.Output(name=source.name, value=copy.deepcopy(value), sensitive=sensitive))
    return tuple(read)
