"""Rendering a Kubernetes stack's desired state without touching a cluster.

``truenorth render REPO --stack NAME`` shows exactly what the Kubernetes engine would
apply: the objects ``kubectl kustomize`` (or the manifest folder) gives, with the stack's
``inputs:`` substituted and Secret values masked. It needs no cluster, records no run and
writes nothing but a scratch dir.

Inputs are resolved as ``truenorth plan`` resolves them (:mod:`truenorth.controller.runs.resolving`,
from the outputs recorded in the data dir). One that is not known yet (its stack was never
applied, or its pending plan changes it) is an error naming it, since no honest value
exists to print: a placeholder text in a Secret would read as its value. With
``allow_unknown`` such an input is left as its reference, ``${NAME}``, exactly as
written, and :attr:`Rendered.not_known` names it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from truenorth.controller.runs import resolving, runtime, sources
from truenorth.core import inputs, outputs, redaction, specs
from truenorth.engines import protocol

__all__ = ["RenderError", "Rendered", "render_stack"]


class RenderError(ValueError):
    """The stack's inputs cannot be rendered (missing or not known yet); the message names them."""


@dataclass(frozen=True)
class Rendered:
    """A stack's rendered objects as YAML, and the inputs left as ``${NAME}`` (not known yet)."""

    text: str
    not_known: tuple[outputs.InputValue, ...] = ()


def render_stack(
    rt: runtime.Runtime, revision: sources.Revision, stack: specs.StackSpec, *, allow_unknown: bool = False
) -> Rendered:
    """The stack's rendered objects; :class:`EngineError` or :class:`RenderError` on failure."""
    if stack.engine != "kubernetes":
        raise protocol.EngineError(
            f"stack {stack.name!r} is a {stack.engine} stack; only kubernetes stacks render"
        )
    from truenorth.engines import kubernetes

    values, not_known = _inputs(rt, revision, stack, allow_unknown=allow_unknown)

    with tempfile.TemporaryDirectory(prefix="truenorth-render-") as scratch:
        ctx = protocol.StackContext(
            stack=stack,
            checkout=revision.checkout,
            revision=revision.sha,
            run_dir=Path(scratch) / "run",
            state_dir=Path(scratch) / "state",
            cache_dir=rt.layout.cache,
            settings=rt.clusters(stack),
            redactor=redaction.Redactor(outputs.sensitive_values(values)),
            inputs=values,
        )
        ctx.run_dir.mkdir()
        ctx.state_dir.mkdir()
        # Secret values are masked by to_yaml, by structure; the run's redactor (sensitive
        # inputs, URL credentials) is a second net, applied to each string before dumping so
        # that what it masks is quoted and the output stays valid YAML.
        text = kubernetes.to_yaml(ctx.redactor.value(kubernetes.render(ctx)))
    return Rendered(text=text, not_known=not_known)


def _inputs(
    rt: runtime.Runtime, revision: sources.Revision, stack: specs.StackSpec, *, allow_unknown: bool
) -> tuple[outputs.Input, tuple[outputs.InputValue, ...]]:
    """The stack's inputs as ``plan`` resolves them; an unknown one refused, or (``allow_unknown``)
    standing for its own ``${NAME}`` reference."""
    if not stack.inputs:
        return {}, ()
    try:
        resolution = resolving.resolve(rt.store, repository=revision.key, stack=stack).check()
    except inputs.InputError as exc:
        raise RenderError(str(exc)) from None
    waiting = resolution.waiting
    if waiting and not allow_unknown:
        named = ", ".join(
            f"{item.name} ({item.ref.source}, {item.placeholder().strip('()')})" for item in waiting
        )
        raise RenderError(
            f"stack {stack.name}: input(s) not known yet: {named}; apply the stack(s) they come from "
            "first, or add --allow-unknown to leave them as ${NAME} in the output"
        )
    found = dict(resolution.inputs)
    for item in waiting:
        # Its reference, as written: a text that cannot pass for a real value.
        found[item.name] = dataclasses.replace(item, value=f"${{{item.name}}}", known=True, digest="")
    return found, waiting
