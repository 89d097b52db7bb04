"""Planning and applying every selected stack of one revision, in dependency order.

This is the one-shot path the CLI takes (``truenorth plan`` / ``truenorth apply``). It
walks the stacks with :class:`truenorth.core.walks.Walk`, the walk the controller's
reconcile pass takes too: plan each stack once its dependencies are planned (independent
ones in parallel); on apply, ask once, then apply stack by stack, re-planning a stack a
dependency of which was applied in this run (its first plan read their old outputs: an
apply records the stack's outputs, so the new plan reads the new values), and skipping
(and recording) every dependent of a stack that failed. A plan made while an input was
not known yet ("known after network applies") is never applied. The guards of
:mod:`truenorth.core.guards` decide what a plan leaves waiting for approval and refuse to
take a stack back to a revision older than the one it was applied at (only ``rollback``
goes back). The selected stacks are held while the command works on them
(:mod:`.holding`: another local command or a controller replica on them is refused).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from truenorth.controller.local import holding
from truenorth.controller.runs import executing, guarding, runtime, sources
from truenorth.core import guards, runs, specs, states, walks

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


@dataclass(frozen=True)
class _Course:
    """Where the revision lies from the one a stack was applied at."""

    direction: guards.Direction
    applied: str | None


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
    command: str = "truenorth plan",
) -> list[executing.Outcome]:
    """Plan every stack in ``stacks`` (already in dependency order), independent ones in parallel.

    A stack's plan starts once its dependencies' plans ended (a first plan seeds the
    state its dependents read); a failed plan does not stop its dependents' (each one
    reports). Events are reported in ``stacks`` order. Every stack in ``stacks`` is held
    (:func:`.holding.hold`) until all are planned; :class:`.holding.StackBusy`, with
    nothing recorded, when one is taken.
    """
    with holding.hold(rt, revision.key, [stack.name for stack in stacks], command=command):
        courses = _courses(rt, revision, stacks)
        return _plan_all(
            rt, revision, stacks, courses=courses, events=events or Events(), actor=actor, parallel=parallel
        )


def _plan_all(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stacks: Sequence[specs.StackSpec],
    *,
    courses: dict[str, _Course],
    events: Events,
    actor: str | None,
    parallel: int | None,
) -> list[executing.Outcome]:
    workers = max(1, min(parallel or DEFAULT_PARALLEL, len(stacks) or 1))
    by_name = {stack.name: stack for stack in stacks}
    walk = walks.Walk([(stack.name, stack.depends_on) for stack in stacks])
    outcomes: dict[str, executing.Outcome] = {}
    reported = 0

    def plan(stack: specs.StackSpec) -> executing.Outcome:
        course = courses[stack.name]
        return executing.plan_stack(
            rt,
            revision,
            stack,
            on_output=_sink(events, stack),
            actor=actor,
            direction=course.direction,
            applied=course.applied,
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan") as pool:
        running: dict[Future[executing.Outcome], str] = {}
        while not walk.done:
            for step in walk.ready():  # only starts: every plan ends its turn as OK
                running[pool.submit(plan, by_name[step.stack])] = step.stack
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                outcomes[name] = future.result()
                walk.finish(name, walks.Ended.OK)
            while reported < len(stacks) and stacks[reported].name in outcomes:
                events.planned(outcomes[stacks[reported].name])
                reported += 1
    return [outcomes[stack.name] for stack in stacks]


def apply_revision(
    rt: runtime.Runtime,
    revision: sources.Revision,
    spec: specs.RepoSpec,
    stacks: Sequence[specs.StackSpec],
    *,
    confirm: Callable[[list[executing.Outcome]], bool],
    events: Events | None = None,
    actor: str | None = None,
    command: str = "truenorth apply",
) -> tuple[list[executing.Outcome], list[executing.Outcome]]:
    """Plan all, ask ``confirm`` once, then apply in order. Returns (plans, applies).

    Nothing is applied when any plan failed or ``confirm`` says no. Stacks without
    changes are not applied; a stack applied at a newer revision than this one is not
    applied either (the refusal is recorded as a skipped apply). Every stack in
    ``stacks`` is held (:func:`.holding.hold`) from its plan to its apply, so no other
    command replaces the plan applied; :class:`.holding.StackBusy`, with nothing
    recorded, when one is taken.
    """
    del spec  # the walk needs only the selected stacks: dependencies outside it are done
    with holding.hold(rt, revision.key, [stack.name for stack in stacks], command=command):
        return _apply_all(rt, revision, stacks, confirm=confirm, events=events or Events(), actor=actor)


def _apply_all(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stacks: Sequence[specs.StackSpec],
    *,
    confirm: Callable[[list[executing.Outcome]], bool],
    events: Events,
    actor: str | None,
) -> tuple[list[executing.Outcome], list[executing.Outcome]]:
    courses = _courses(rt, revision, stacks)
    planned = _plan_all(rt, revision, stacks, courses=courses, events=events, actor=actor, parallel=None)
    if any(outcome.plan is None for outcome in planned):
        return planned, []
    if not any(outcome.plan is not None and outcome.plan.has_changes for outcome in planned):
        return planned, []
    if not confirm(planned):
        return planned, []
    first = {outcome.result.stack: outcome for outcome in planned}
    by_name = {stack.name: stack for stack in stacks}
    walk = walks.Walk([(stack.name, stack.depends_on) for stack in stacks])
    applied: list[executing.Outcome] = []

    def record(outcome: executing.Outcome) -> None:
        applied.append(outcome)
        events.applied(outcome)

    # One stack at a time, the earliest in ``stacks`` order among those the walk allows.
    position = {stack.name: index for index, stack in enumerate(stacks)}
    queue: list[walks.Step] = []
    while queue or not walk.done:  # a skip ends its stack's turn at once: record it still
        queue.extend(walk.ready())
        queue.sort(key=lambda item: position[item.stack])
        step = queue.pop(0)
        stack = by_name[step.stack]
        if isinstance(step, walks.Skip):
            record(executing.record_skipped(rt, revision, stack, reason=step.reason))
        elif isinstance(step, walks.Start):
            ended = _apply_one(
                rt,
                revision,
                stack,
                step=step,
                first=first[stack.name],
                course=courses[stack.name],
                events=events,
                actor=actor,
                record=record,
            )
            walk.finish(stack.name, ended)
    return planned, applied


def _apply_one(
    rt: runtime.Runtime,
    revision: sources.Revision,
    stack: specs.StackSpec,
    *,
    step: walks.Start,
    first: executing.Outcome,
    course: _Course,
    events: Events,
    actor: str | None,
    record: Callable[[executing.Outcome], None],
) -> walks.Ended:
    """Apply one stack's turn of the walk: re-plan if a dependency was just applied, then apply."""
    refusal = guards.check_apply_direction(
        direction=course.direction, target=revision.sha, applied=course.applied
    )
    plan_outcome = first
    if refusal is None and step.applied_upstream:
        # Applied at once: no approval to wait for, so no direction (the stack stays out of sync).
        plan_outcome = executing.plan_stack(rt, revision, stack, on_output=_sink(events, stack), actor=actor)
        events.replanned(plan_outcome)
        if plan_outcome.plan is None:
            return walks.Ended.FAILED
    plan = plan_outcome.plan
    assert plan is not None
    if not plan.has_changes:
        return walks.Ended.OK
    waiting = guards.check_inputs_known(stack=stack.name, inputs=plan.inputs)
    if waiting is not None:  # an input is not known yet: never applied (its dependents wait)
        record(executing.record_skipped(rt, revision, stack, reason=f"not applied: {waiting.message}"))
        return walks.Ended.WAITING
    if refusal is not None:
        message = f"not applied: {refusal.message}"
        record(
            executing.record_skipped(
                rt, revision, stack, reason=message, transition=states.after_refused(error=message)
            )
        )
        return walks.Ended.OK
    outcome = executing.apply_stack(
        rt,
        revision,
        stack,
        plan,
        plan_run_id=plan_outcome.run_id,
        on_output=_sink(events, stack),
        actor=actor,
    )
    record(outcome)
    if outcome.result.status is runs.RunStatus.SUCCEEDED:
        return walks.Ended.APPLIED
    return walks.Ended.FAILED


def _courses(
    rt: runtime.Runtime, revision: sources.Revision, stacks: Sequence[specs.StackSpec]
) -> dict[str, _Course]:
    """Where ``revision`` lies from the revision each stack was applied at (git, once per stack)."""
    found: dict[str, _Course] = {}
    for stack in stacks:
        record = rt.store.get_stack(repository=revision.key, name=stack.name)
        applied = record.applied_revision if record is not None else None
        direction = guarding.direction(rt.sources.cache, revision.url, applied=applied, target=revision.sha)
        found[stack.name] = _Course(direction=direction, applied=applied)
    return found


def _sink(events: Events, stack: specs.StackSpec) -> Callable[[str], None] | None:
    output = events.output
    if output is None:
        return None
    return lambda line: output(stack.name, line)
