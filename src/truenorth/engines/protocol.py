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
from typing import Protocol, TypeGuard

from truenorth.core import outputs as core_outputs
from truenorth.core import plans, redaction, runs, specs
from truenorth.engines import sandbox as sandboxing

__all__ = [
    "Converging",
    "Engine",
    "EngineError",
    "OutputSink",
    "PartialPlanError",
    "SharedState",
    "StackContext",
    "apply_result",
    "converges_in_one_run",
]

#: Receives redacted output lines as the engine produces them (live run logs).
OutputSink = Callable[[str], None]


class EngineError(RuntimeError):
    """An engine operation failed in a way the user must see; the message is redacted."""


class PartialPlanError(EngineError):
    """A plan failed part-way, but what it checked before failing is worth showing.

    ``plan`` holds the changes found until then (``meta["partial"]`` is true); it is
    recorded with the failed run and shown, never applied.
    """

    def __init__(self, message: str, *, plan: plans.Plan) -> None:
        super().__init__(message)
        self.plan = plan


@dataclass(frozen=True)
class SharedState:
    """Where state that must outlive one replica's data dir lives (issue 14: replicas on PostgreSQL).

    Set by the controller when several replicas share a PostgreSQL store; None with one
    controller (the state dir is then the only copy, and enough). ``repository`` is the
    tracked repository's key (``<normalized URL>#<branch>``), from which an engine derives
    names that no repository chooses (the Terraform ``pg`` backend's schema, see
    :mod:`truenorth.engines.terraform.pgstate`). ``postgres_url`` is a libpq connection
    string: a secret, never shown, logged or written to a file.
    """

    repository: str
    postgres_url: str = field(repr=False)


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
    repository's allowances) and ``limits`` what each may use (:mod:`.sandbox`). ``inputs`` are the
    values other stacks' outputs give this one; an apply is never handed an unknown one.
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
    #: The stack's resolved ``inputs:`` by name (:mod:`truenorth.core.outputs`). An engine
    #: delivers them its own way (Terraform variables, Ansible extra vars, Kubernetes
    #: substitution) and adds nothing of a sensitive one to what it shows.
    inputs: core_outputs.Input = field(default_factory=dict)
    #: Where state shared by replicas lives (:class:`SharedState`); None with one controller.
    shared_state: SharedState | None = None
    #: A read-only plan (a merge request's preview): it runs without the stack's lock, maybe
    #: while an apply of the same stack runs, so the engine writes nothing in ``state_dir``
    #: and takes no lock of the stack's state; what it needs to write (a working copy, a
    #: plan file) goes to a folder of its own, removed when the plan ends. Its plan is
    #: never applied. Only :meth:`Engine.plan` is called with it set.
    read_only: bool = False

    @property
    def stack_dir(self) -> Path:
        """The stack's folder inside the checkout."""
        return self.checkout / self.stack.path


class Engine(Protocol):
    """What the controller needs from an engine.

    An engine may also say which files of its ``state_dir`` are state that every
    controller replica needs (issue 14): a class attribute ``shared_files: tuple[str, ...]``
    of plain file names (read with ``getattr``, default none; the Kubernetes engine names
    its inventory). With replicas on PostgreSQL the controller writes the store's copy of
    each into ``state_dir`` before every operation and keeps each one that changed after
    it (:mod:`truenorth.controller.runs.carrying`); engines never see the store. Files not
    named there stay on the disk of the replica that wrote them.
    """

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


class Converging(Protocol):
    """An engine that can converge a stack in one run, without a plan first (Ansible).

    For an ``auto_apply`` stack nobody looks at a plan before it is applied, so a
    check-mode run whose only use is to be followed by the real run is waste (issue 16):
    ``converge`` applies ``ctx.revision`` at once and returns the apply's result, whose
    ``plan`` holds the changes the real run made (with their diffs), recorded for the run
    as a plan's would be. It never raises for engine failures. The controller calls it
    only where the guards would apply a plan by itself (``auto_apply``, going forward,
    every input known); a plan still comes first wherever one is shown or approved.
    Terraform and Kubernetes apply exactly a saved or diffed plan and do not offer it.
    """

    #: True: the controller may call :meth:`converge` instead of plan-then-apply.
    converges_without_plan: bool

    def converge(self, ctx: StackContext) -> runs.RunResult:
        """Apply ``ctx.revision`` in one run; the result's plan holds what it changed."""
        ...


def converges_in_one_run(engine: object) -> TypeGuard[Converging]:
    """Whether ``engine`` offers :class:`Converging` (an attribute set to True and the method)."""
    return getattr(engine, "converges_without_plan", False) is True and callable(
        getattr(engine, "converge", None)
    )


def apply_result(
    ctx: StackContext,
    plan: plans.Plan,
    *,
    started: datetime,
    status: runs.RunStatus,
    output: str = "",
    error: str = "",
    hosts: tuple[runs.HostResult, ...] = (),
    outputs: tuple[core_outputs.Output, ...] = (),
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
        outputs=outputs,
    )
