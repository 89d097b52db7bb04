"""The Kubernetes engine: Kustomize or plain manifests, server-side applied with pruning.

Structured like gitops-engine: pure :mod:`rendering` inputs, pure :mod:`diffing`
(with :mod:`normalizing` and :mod:`fieldsets`), pure :mod:`health` and
:mod:`ordering`, one :mod:`client` that talks to the API server, an :mod:`inventory`
of what truenorth applied, and :mod:`engine` wiring them behind the engine protocol.
The CLI's ``truenorth render`` calls :func:`render` and :func:`to_yaml`.
"""

from __future__ import annotations

from typing import Any

from truenorth.engines import protocol
from truenorth.engines.kubernetes.documents import to_yaml
from truenorth.engines.kubernetes.engine import KubernetesEngine

__all__ = ["KubernetesEngine", "render", "to_yaml"]


def render(ctx: protocol.StackContext) -> list[dict[str, Any]]:
    """The objects the stack declares at ``ctx.revision`` (raises :class:`EngineError`)."""
    return KubernetesEngine().render(ctx)
