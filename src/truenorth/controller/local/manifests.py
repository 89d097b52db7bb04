"""Rendering a Kubernetes stack's desired state without touching a cluster.

``truenorth render REPO --stack NAME`` shows exactly what the Kubernetes engine would
apply: the objects ``kubectl kustomize`` (or the manifest folder) gives, with Secret
values masked. It needs no cluster, records no run and writes nothing but a scratch dir.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from truenorth.controller.runs import runtime, sources
from truenorth.core import redaction, specs
from truenorth.engines import protocol

__all__ = ["render_stack"]


def render_stack(rt: runtime.Runtime, revision: sources.Revision, stack: specs.StackSpec) -> str:
    """The stack's rendered objects as a YAML stream; :class:`EngineError` on failure."""
    if stack.engine != "kubernetes":
        raise protocol.EngineError(
            f"stack {stack.name!r} is a {stack.engine} stack; only kubernetes stacks render"
        )
    from truenorth.engines import kubernetes

    with tempfile.TemporaryDirectory(prefix="truenorth-render-") as scratch:
        ctx = protocol.StackContext(
            stack=stack,
            checkout=revision.checkout,
            revision=revision.sha,
            run_dir=Path(scratch) / "run",
            state_dir=Path(scratch) / "state",
            cache_dir=rt.layout.cache,
            settings=rt.clusters(stack),
            redactor=redaction.Redactor(),
        )
        ctx.run_dir.mkdir()
        ctx.state_dir.mkdir()
        return kubernetes.to_yaml(kubernetes.render(ctx))
