"""The engine interface every declarative tool is driven through.

The controller and the CLI never know which tool they drive: they hand an engine a
:class:`StackContext` (the stack's spec, a read-only checkout of one revision, private
directories) and get back normalized :class:`~truenorth.core.plans.Plan` and
:class:`~truenorth.core.runs.RunResult` values. Engines are synchronous; the controller
runs them in worker threads and cancels them through ``cancel``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from truenorth.core import plans, redaction, runs, specs
from truenorth.engines import sandbox as sandboxing

__all__ = ["Engine", "EngineError", "OutputSink", "StackContext", "apply_result"]

#: Receives redacted output lines as the engine produces them (live run logs).
OutputSink = Callable[[str], None]


class EngineError(RuntimeError):
    """An engine operation failed in a way the user must see; the message is redacted."""


@dataclass(frozen=True)
class StackContext:
    """Everything an engine needs to work on one stack at one revision.

    ``checkout`` is the read-only snapshot of the whole repository at ``revision``;
    the stack's folder is ``checkout / stack.path``. ``run_dir`` is this operation's own
    directory for inputs and artifacts (kept for history; must hold nothing secret in
    clear text). ``state_dir`` persists across runs of this stack (Terraform's local
    state, saved plans). ``cache_dir`` is shared by all stacks (provider plugin cache).
    ``secrets`` are resolved secret values (vault passwords, kubeconfig paths) that the
    controller looked up by reference; they never come from Git. ``sandbox`` says how
    the engine's programs are confined (the controller's ``sandbox`` mode and the
    repository's allowances) and ``limits`` what each may use (:mod:`.sandbox`).
    """

    stack: specs.StackSpec
    checkout: Path
    revision: str
    run_dir: Path
    state_dir: Path
    cache_dir: Path
    timeout: float = 3600.0
    secrets: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    redactor: redaction.Redactor = field(default_factory=redaction.Redactor)
    on_output: OutputSink | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    sandbox: sandboxing.Policy = field(default_factory=sandboxing.Policy)
    limits: sandboxing.Limits = field(default_factory=sandboxing.Limits)

    @property
    def stack_dir(self) -> Path:
        """The stack's folder inside the checkout."""
        return self.checkout / self.stack.path


class Engine(Protocol):
    """What the controller needs from an engine."""

    #: The ``engine:`` value in ``truenorth.yaml`` this engine serves.
    name: str

    def plan(self, ctx: StackContext) -> plans.Plan:
        """Work out what applying ``ctx.revision`` would change. Raises :class:`EngineError`."""
        ...

    def apply(self, ctx: StackContext, plan: plans.Plan) -> runs.RunResult:
        """Apply exactly ``plan``; refuse it when it is stale. Never raises for engine failures:
        they come back as a failed :class:`~truenorth.core.runs.RunResult`."""
        ...

    def drift(self, ctx: StackContext) -> plans.Plan:
        """Plan at the deployed revision: a plan with changes means the live state drifted."""
        ...

    def version(self) -> str | None:
        """The tool's version, or None when it is not installed (``truenorth doctor``)."""
        ...


def apply_result(
    ctx: StackContext,
    plan: plans.Plan,
    *,
    started: datetime,
    status: runs.RunStatus,
    output: str = "",
    error: str = "",
    hosts: tuple[runs.HostResult, ...] = (),
) -> runs.RunResult:
    """The result of applying ``plan`` to ``ctx``'s stack, finished now; text redacted."""
    return runs.RunResult(
        stack=ctx.stack.name,
        kind=runs.RunKind.APPLY,
        status=status,
        revision=ctx.revision,
        started_at=started,
        finished_at=datetime.now(UTC),
        plan=plan,
        output=ctx.redactor(output),
        error=ctx.redactor(error),
        hosts=hosts,
    )
