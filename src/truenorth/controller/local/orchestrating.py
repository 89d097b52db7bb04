"""Planning and applying every selected stack of one revision, in dependency order.

This is the one-shot path the CLI takes (``truenorth plan`` / ``truenorth apply``): plan
each stack; on apply, ask once, then apply stack by stack in ``depends_on`` order,
re-planning a stack whose dependencies changed during this run (its first plan read their
old outputs), and skipping every dependent of a stack that failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from truenorth.controller.runs import executing, runtime, sources
from truenorth.core import ordering, runs, specs

__all__ = ["DEFAULT_PARALLEL", "Events", "apply_revision", "plan_revision", "select_stacks"]

#: Plans that may run at once: engines are mostly waiting on their tools.
DEFAULT_PARALLEL = min(4, (os.cpu_count() or 1) * 2)


@dataclass(frozen=True)
class Events:
    """Callbacks for a caller that shows progress (the CLI prints, tests collect)."""

    planned: Callable[[executing.Outcome], None] = lambda outcome: None
    applied: Callable[[executing.Outcome], None] = lambda outcome: None
    replanned: Callable[[executing.Outcome], None] = lambda outcome: None
    output: Callable[[str, str], None] | None = None


def select_stacks(spec: specs.RepoSpec, names: Sequence[str]) -> tuple[specs.StackSpec, ...]:
    """Stacks named in ``names`` (all when empty) in dependency order; KeyError for unknown names."""
    unknown = [name for name in names if name not in spec.names]
    if unknown:
        raise KeyError(", ".join(unknown))
    return spec.order(list(names) if names else None)


def plan_revision(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stacks: Sequence[specs.StackSpec],
    *,
    events: Events | None = None,
    actor: str | None = None,
    parallel: int | None = None,
) -> list[executing.Outcome]:
    """Plan every stack in ``stacks`` (already in dependency order), independent ones in parallel.

    A stack's plan starts once its dependencies' plans ended (a first plan seeds the
    state its dependents read). Events are reported in ``stacks`` order.
    """
    events = events or Events()
    workers = max(1, min(parallel or DEFAULT_PARALLEL, len(stacks) or 1))
    futures: dict[str, Future[executing.Outcome]] = {}

    def plan_after(stack: specs.StackSpec, waits: list[Future[executing.Outcome]]) -> executing.Outcome:
        for wait in waits:
            wait.exception()  # a failed dependency plan still lets this one run and report
        return executing.plan_stack(rt, revision, stack, on_output=_sink(events, stack), actor=actor)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan") as pool:
        # Submitted in dependency order, so a task only ever waits on tasks taken before it.
        for stack in stacks:
            waits = [futures[name] for name in stack.depends_on if name in futures]
            futures[stack.name] = pool.submit(plan_after, stack, waits)
        outcomes = []
        for stack in stacks:
            outcome = futures[stack.name].result()
            events.planned(outcome)
            outcomes.append(outcome)
    return outcomes


def apply_revision(
    rt: runtime.Runtime,
    revision: sources.Revision,
    spec: specs.RepoSpec,
    stacks: Sequence[specs.StackSpec],
    *,
    confirm: Callable[[list[executing.Outcome]], bool],
    events: Events | None = None,
    actor: str | None = None,
) -> tuple[list[executing.Outcome], list[executing.Outcome]]:
    """Plan all, ask ``confirm`` once, then apply in order. Returns (plans, applies).

    Nothing is applied when any plan failed or ``confirm`` says no. Stacks without
    changes are not applied.
    """
    events = events or Events()
    planned = plan_revision(rt, revision, stacks, events=events, actor=actor)
    if any(outcome.plan is None for outcome in planned):
        return planned, []
    if not any(outcome.plan is not None and outcome.plan.has_changes for outcome in planned):
        return planned, []
    if not confirm(planned):
        return planned, []
    graph = {stack.name: stack.depends_on for stack in spec.stacks}
    failed: set[str] = set()
    changed: set[str] = set()
    applied: list[executing.Outcome] = []
    for stack, first in zip(stacks, planned, strict=True):
        blocked = ordering.dependents(graph, failed) & {stack.name}
        if blocked:
            culprits = sorted(name for name in failed if stack.name in ordering.dependents(graph, [name]))
            outcome = executing.record_skipped(
                rt, revision, stack, reason=f"not applied: dependency {', '.join(culprits)} failed"
            )
            failed.add(stack.name)
            applied.append(outcome)
            events.applied(outcome)
            continue
        plan_outcome = first
        if set(stack.depends_on) & changed:
            plan_outcome = executing.plan_stack(
                rt, revision, stack, on_output=_sink(events, stack), actor=actor
            )
            events.replanned(plan_outcome)
            if plan_outcome.plan is None:
                failed.add(stack.name)
                continue
        assert plan_outcome.plan is not None
        if not plan_outcome.plan.has_changes:
            continue
        outcome = executing.apply_stack(
            rt,
            revision,
            stack,
            plan_outcome.plan,
            plan_run_id=plan_outcome.run_id,
            on_output=_sink(events, stack),
            actor=actor,
        )
        applied.append(outcome)
        events.applied(outcome)
        if outcome.result.status is runs.RunStatus.SUCCEEDED:
            changed.add(stack.name)
        else:
            failed.add(stack.name)
            if outcome.result.status is runs.RunStatus.PARTIAL:
                changed.add(stack.name)
    return planned, applied


def _sink(events: Events, stack: specs.StackSpec) -> Callable[[str], None] | None:
    output = events.output
    if output is None:
        return None
    return lambda line: output(stack.name, line)
