"""Operations on one stack: reconcile, apply a stored plan, roll back, check drift.

The reconcile loop and the facade's actions both come here, always holding the stack's
lock (:mod:`.locks`). Each operation runs the engine through :mod:`.executing` in the
bounded worker pool (so every run is recorded before the engine starts), then updates
what the store and the loop know: sync state, health, pending plan, retry and drift
bookkeeping.

The rules are not here: :mod:`truenorth.core.guards` says what may be applied (never
backwards: a revision older than the applied one is not even planned; one on another
line of history is planned but waits for approval; only :func:`rollback` deploys an
older revision, deliberately), :mod:`truenorth.core.states` what state a stack is in
after each event (:mod:`.executing` writes it, once per change), and
:mod:`truenorth.core.walks` which stacks wait for which (:func:`dependency_step`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from truenorth import texts
from truenorth.controller import errors
from truenorth.controller.loop import contexts, repositories, scheduling
from truenorth.controller.runs import executing, guarding, sources, validating
from truenorth.core import guards, meanings, plans, runs, specs, states, walks
from truenorth.git import commits
from truenorth.store import errors as store_errors
from truenorth.store import records

__all__ = [
    "REPLANNED_FROM",
    "Step",
    "apply_same_plan",
    "apply_stored_plan",
    "check_drift",
    "count_failure",
    "dependency_step",
    "ended",
    "learn_commit",
    "reconcile_stack",
    "refused",
    "relation",
    "revision_at",
    "rollback",
    "spec_at",
    "stack_at",
]

log = logging.getLogger(__name__)

RunStarted = Callable[[int], None]

#: ``meta`` key of an apply's recorded plan: the stored plan run (made by another replica)
#: that this replica planned again and found the same (:func:`apply_same_plan`).
REPLANNED_FROM = "replanned_from"
#: Characters of a failed plan's error an action's answer shows.
_ERROR_SHOWN = 2000


@dataclass(frozen=True)
class Step:
    """What one operation did: its run ids, whether it fully worked, whether it deployed."""

    plan_run_id: int | None = None
    apply_run_id: int | None = None
    ok: bool = False
    applied: bool = False


# ---------------------------------------------------------------------- revisions


async def revision_at(
    ctx: contexts.Context, repo: repositories.RepositoryState, *, sha: str
) -> sources.Revision:
    """The read-only checkout of commit ``sha`` of ``repo`` (from its mirror)."""
    url = repo.config.fetch_url()
    cache = ctx.rt.sources.cache

    def load() -> sources.Revision:
        commit = cache.commit(url, sha)
        checkout = cache.snapshot(url, commit.sha)
        return sources.Revision(
            url=repo.display,
            shown_url=repo.display,
            key=repo.key,
            ref=repo.config.branch,
            sha=commit.sha,
            commit=commit,
            checkout=checkout,
        )

    revision = await ctx.io(load)
    _remember(ctx, revision.commit)
    return revision


async def learn_commit(ctx: contexts.Context, repo: repositories.RepositoryState, *, sha: str) -> None:
    """Read the details of commit ``sha`` (no checkout) for the views."""
    url = repo.config.fetch_url()
    _remember(ctx, await ctx.io(lambda: ctx.rt.sources.cache.commit(url, sha)))


def _remember(ctx: contexts.Context, commit: commits.Commit) -> None:
    ctx.remember_commit(
        commit.sha,
        {
            "sha": commit.sha,
            "author": commit.author_name,
            "date": commit.date.isoformat(),
            "subject": commit.subject,
        },
    )


async def stack_at(ctx: contexts.Context, revision: sources.Revision, *, name: str) -> specs.StackSpec:
    """Stack ``name`` as ``revision`` declares it.

    Raises :class:`SpecError` for an invalid revision and ``ControllerError(invalid)`` when
    the revision does not declare the stack: never a bare ``KeyError``, which would read as
    a bug.
    """
    spec = await spec_at(ctx, revision)
    if name not in spec.names:
        raise errors.ControllerError(
            errors.INVALID, f"revision {revision.sha[:12]} does not declare a stack {name!r}"
        )
    return spec.stack(name)


async def spec_at(ctx: contexts.Context, revision: sources.Revision) -> specs.RepoSpec:
    """The validated spec of ``revision``; raises :class:`SpecError` for an invalid one."""
    found = ctx.spec_cache.get(revision.sha)
    if found is None:
        found = await ctx.io(lambda: validating.validate_checkout(revision.checkout))
        ctx.remember_spec(revision.sha, found)
    return found


async def relation(
    ctx: contexts.Context, repo: repositories.RepositoryState, *, applied: str | None, target: str
) -> guards.Direction:
    """Where ``target`` lies from the ``applied`` revision (:func:`guarding.direction`)."""
    if applied is None or applied == target:
        return guards.Direction.FORWARD
    url = repo.config.fetch_url()
    cache = ctx.rt.sources.cache
    return await ctx.io(lambda: guarding.direction(cache, url, applied=applied, target=target))


def refused(refusal: guards.Refusal) -> errors.ControllerError:
    """The error an action answers a guard's refusal with (its kind is the HTTP status)."""
    return errors.ControllerError(refusal.kind.value, refusal.message)


# ---------------------------------------------------------------------- engine runs


async def _plan(
    ctx: contexts.Context,
    stack: specs.StackSpec,
    *,
    revision: sources.Revision,
    kind: runs.RunKind = runs.RunKind.PLAN,
    actor: str | None = None,
    reason: str | None = None,
    on_start: RunStarted | None = None,
    direction: guards.Direction | None = None,
    applied: str | None = None,
    drifted_before: bool = False,
) -> executing.Outcome:
    outcome = await ctx.engine(
        lambda cancel: executing.plan_stack(
            ctx.rt,
            revision,
            stack,
            kind=kind,
            actor=actor,
            reason=reason,
            cancel=cancel,
            on_start=on_start,
            direction=direction,
            applied=applied,
            drifted_before=drifted_before,
        )
    )
    ctx.metrics.run_recorded(engine=stack.engine, kind=kind.value, result=outcome.result.status.value)
    ctx.notifications.plan_finished(revision, stack, outcome, kind=kind)
    return outcome


async def _apply(
    ctx: contexts.Context,
    stack: specs.StackSpec,
    *,
    revision: sources.Revision,
    plan: plans.Plan,
    plan_run_id: int | None,
    actor: str | None = None,
    reason: str | None = None,
    on_start: RunStarted | None = None,
) -> executing.Outcome:
    outcome = await ctx.engine(
        lambda cancel: executing.apply_stack(
            ctx.rt,
            revision,
            stack,
            plan,
            plan_run_id=plan_run_id,
            actor=actor,
            reason=reason,
            cancel=cancel,
            on_start=on_start,
        )
    )
    result = outcome.result
    ctx.metrics.run_recorded(engine=stack.engine, kind=runs.RunKind.APPLY.value, result=result.status.value)
    ctx.notifications.apply_finished(revision, stack, outcome)
    return outcome


async def _converge(
    ctx: contexts.Context,
    stack: specs.StackSpec,
    *,
    revision: sources.Revision,
    actor: str | None = None,
    on_start: RunStarted | None = None,
) -> executing.Outcome | None:
    """Apply ``stack`` in one engine run, no plan first (:func:`executing.converge_stack`);
    None when its engine cannot, or an input is not known (nothing is recorded then)."""
    outcome = await ctx.engine(
        lambda cancel: executing.converge_stack(
            ctx.rt, revision, stack, actor=actor, cancel=cancel, on_start=on_start
        )
    )
    if outcome is None:
        return None
    result = outcome.result
    ctx.metrics.run_recorded(engine=stack.engine, kind=runs.RunKind.APPLY.value, result=result.status.value)
    ctx.notifications.apply_finished(revision, stack, outcome)
    return outcome


async def _upsert(ctx: contexts.Context, key: str, *, name: str, **fields: Any) -> records.StackRecord:
    return await ctx.io(lambda: ctx.rt.store.upsert_stack(repository=key, name=name, **fields))


async def _stack_record(ctx: contexts.Context, key: str, *, name: str) -> records.StackRecord | None:
    return await ctx.io(lambda: ctx.rt.store.get_stack(repository=key, name=name))


# ---------------------------------------------------------------------- operations


async def reconcile_stack(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    stack: specs.StackSpec,
    revision: sources.Revision,
    applied: Mapping[str, str | None],
    actor: str | None = None,
    on_start: RunStarted | None = None,
) -> Step:
    """Plan ``stack`` at ``revision``; apply it when ``auto_apply`` and safe, else hold it for approval."""
    track = repo.track(stack.name)
    record = await _stack_record(ctx, repo.key, name=stack.name)
    current = record.applied_revision if record else None
    direction = await relation(ctx, repo, applied=current, target=revision.sha)
    refusal = guards.check_apply_direction(direction=direction, target=revision.sha, applied=current)
    if refusal is not None:
        message = f"not applied: {refusal.message}"
        log.warning("repository %s, stack %s: %s", repo.name, stack.name, message)
        skipped = await ctx.io(
            lambda: executing.record_skipped(
                ctx.rt, revision, stack, reason=message, transition=states.after_refused(error=message)
            )
        )
        if on_start is not None:
            on_start(skipped.run_id)
        ctx.metrics.run_recorded(engine=stack.engine, kind="apply", result="skipped")
        track.succeeded()
        return Step(apply_run_id=skipped.run_id)
    if guards.after_plan(has_changes=True, auto_apply=stack.auto_apply, direction=direction) is (
        guards.Decision.APPLY
    ):
        # Any plan would be applied by itself: an engine that can (Ansible) runs once, no
        # check mode first (issue 16); None when it cannot (then it is planned first).
        converged = await _converge(ctx, stack, revision=revision, actor=actor, on_start=on_start)
        if converged is not None:
            track.planned_with = {dep: applied.get(dep) for dep in stack.depends_on}
            track.planned_basis = dict(converged.basis)
            return _after_apply(
                ctx, repo, stack=stack, revision=revision, outcome=converged, plan_run_id=None
            )
    planned = await _plan(
        ctx, stack, revision=revision, actor=actor, on_start=on_start, direction=direction, applied=current
    )
    track.planned_with = {dep: applied.get(dep) for dep in stack.depends_on}
    track.planned_basis = dict(planned.basis)
    now = ctx.clock.now()
    plan = planned.plan
    if plan is None:
        count_failure(ctx, repo, stack=stack, sha=revision.sha, what="plan", error=planned.result.error)
        return Step(plan_run_id=planned.run_id)
    track.checked(now=now, interval=stack.drift_interval)
    if planned.decision is guards.Decision.NOTHING:
        await _settle_interrupted_apply(ctx, repo, stack=stack, revision=revision, current=current)
        track.succeeded()
        return Step(plan_run_id=planned.run_id, ok=True)
    if planned.decision is guards.Decision.APPLY:
        outcome = await _apply(
            ctx, stack, revision=revision, plan=plan, plan_run_id=planned.run_id, actor=actor
        )
        return _after_apply(
            ctx, repo, stack=stack, revision=revision, outcome=outcome, plan_run_id=planned.run_id
        )
    # Held for approval, or waiting for an input (planned again when it is known): the
    # plan's record already says so (pending-approval or out-of-sync, and why).
    track.succeeded()
    return Step(plan_run_id=planned.run_id, ok=True)


def _after_apply(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    stack: specs.StackSpec,
    revision: sources.Revision,
    outcome: executing.Outcome,
    plan_run_id: int | None,
) -> Step:
    """What the loop learns from a reconcile's apply (after its plan, or a one-run converge)."""
    track = repo.track(stack.name)
    status = outcome.result.status
    deployed = status.deployed
    if deployed:
        track.drift = False
        track.checked(now=ctx.clock.now(), interval=stack.drift_interval)
    if status is runs.RunStatus.SUCCEEDED:
        track.succeeded()
    else:
        count_failure(ctx, repo, stack=stack, sha=revision.sha, what="apply", error=outcome.result.error)
    return Step(
        plan_run_id=plan_run_id,
        apply_run_id=outcome.run_id,
        ok=status is runs.RunStatus.SUCCEEDED,
        applied=deployed,
    )


async def _settle_interrupted_apply(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    stack: specs.StackSpec,
    revision: sources.Revision,
    current: str | None,
) -> None:
    """A plan found nothing to change right after an apply of this revision was interrupted
    (the controller died while the engine ran on to its end): that apply completed, so the
    revision is recorded as applied. Else a drift check would plan at the older revision,
    find "drift", and a self-heal would apply the older revision again."""
    if current == revision.sha:
        return
    last = await ctx.io(
        lambda: ctx.rt.store.last_run(repository=repo.key, stack=stack.name, kind=runs.RunKind.APPLY.value)
    )
    if last is None or last.status != runs.RunStatus.INTERRUPTED.value or last.revision != revision.sha:
        return
    await _upsert(ctx, repo.key, name=stack.name, applied_revision=revision.sha, applied_at=datetime.now(UTC))
    log.info(
        "repository %s, stack %s: the interrupted apply of %s (run %d) had completed; recorded as applied",
        repo.name, stack.name, revision.sha[:12], last.id,
    )  # fmt: skip


def count_failure(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    stack: specs.StackSpec,
    sha: str,
    what: str,
    error: str,
) -> None:
    """Count a failed ``what`` (plan, apply) of ``stack`` at ``sha``: retried with backoff, then given up."""
    track = repo.track(stack.name)
    retry_at = track.failed_attempt(revision=sha, now=ctx.clock.now(), retry=ctx.settings.retry)
    if retry_at is None:
        log.warning(
            "repository %s, stack %s: %s of %s failed %d times; not retried for this revision: %s",
            repo.name, stack.name, what, sha[:12], track.attempts, ctx.redact(error),
        )  # fmt: skip
    else:
        log.warning(
            "repository %s, stack %s: %s of %s failed (try %d of %d), retrying in %.0fs: %s",
            repo.name, stack.name, what, sha[:12], track.attempts, ctx.settings.retry.tries,
            retry_at - ctx.clock.now(), ctx.redact(error),
        )  # fmt: skip


def ended(track: scheduling.StackTrack | None, *, failed: bool = False, applied: bool = False) -> walks.Ended:
    """How a stack's turn in a walk ended, by its track (``failed``: the store says so;
    ``applied``: deployed in this walk)."""
    if failed or (track is not None and track.failed):
        return walks.Ended.FAILED
    if applied:
        return walks.Ended.APPLIED
    if track is not None and track.needs:
        return walks.Ended.WAITING
    return walks.Ended.OK


def dependency_step(
    repo: repositories.RepositoryState,
    *,
    order: Sequence[specs.StackSpec],
    name: str,
    failed_states: frozenset[str] = frozenset(),
) -> walks.Step:
    """What the dependency walk says of ``name`` now, by what its upstream stacks' tracks say:
    :class:`~walks.Skip` when one failed, :class:`~walks.Wait` while one still needs work,
    else :class:`~walks.Start`. The rule of the reconcile pass, for a path that plans one
    stack on its own (a refresh).

    ``order``: the revision's stacks in dependency order; ``failed_states``: stacks the
    store shows as failed (a track is lost with a restart).
    """
    walk = walks.Walk([(stack.name, stack.depends_on) for stack in order])
    while not walk.done:
        steps = walk.ready()
        for step in steps:
            if step.stack == name:
                return step
            if isinstance(step, walks.Start):
                walk.finish(
                    step.stack, ended(repo.tracks.get(step.stack), failed=step.stack in failed_states)
                )
    raise ValueError(f"stack {name!r} is not in the walk")


async def apply_stored_plan(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    name: str,
    run: records.RunRecord,
    actor: str,
    on_start: RunStarted | None = None,
) -> Step:
    """Apply the plan recorded as ``run`` (approval or sync); the engine refuses it if stale."""
    revision, stack, _, _ = await _stored_target(ctx, repo, name=name, run=run)
    plan = executing.plan_from_record(
        stack=name, engine=stack.engine, revision=run.revision, summary=run.summary, changes=run.changes
    )
    outcome = await _apply(
        ctx, stack, revision=revision, plan=plan, plan_run_id=run.id, actor=actor, on_start=on_start
    )
    return _after_stored_apply(ctx, repo, stack=stack, revision=revision, outcome=outcome)


async def apply_same_plan(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    name: str,
    run: records.RunRecord,
    actor: str,
    approval: bool,
    on_start: RunStarted | None = None,
) -> Step:
    """Apply the stored plan ``run`` that another replica made: plan again here, apply only the same plan.

    The saved plan file (Terraform's) is on the other replica's disk. So the stack is
    planned again here, at ``run``'s revision and with its inputs (refused when an input
    changed since), as a recorded plan run that becomes the stack's pending plan like any
    plan. When it is the same plan (:mod:`truenorth.core.meanings`), the new plan, never
    the old one, is applied for ``actor``; its log says so and its summary's
    ``meta["replanned_from"]`` names ``run``. Otherwise ``ControllerError(conflict)`` says
    what differs and names the new plan to review; nothing is applied. The caller hears
    the apply's run id (``on_start``), or that error: never the new plan's id alone.
    """
    revision, stack, current, direction = await _stored_target(ctx, repo, name=name, run=run)
    try:
        await ctx.io(
            lambda: guarding.check_inputs_unchanged(ctx.rt.store, repository=repo.key, stack=stack, run=run)
        )
    except guarding.RefusedError as exc:
        raise refused(exc.refusal) from None
    stored = executing.plan_from_record(
        stack=name, engine=stack.engine, revision=run.revision, summary=run.summary, changes=run.changes
    )
    action = "approval" if approval else "sync"
    planned = await _plan(
        ctx,
        stack,
        revision=revision,
        actor=actor,
        reason=f"run {run.id} planned again on this replica for the {action} by {actor} "
        "(its saved plan is on another replica's disk)",
        direction=direction,
        applied=current,
    )
    fresh = planned.plan
    if fresh is None:
        error = texts.bound(planned.result.error, _ERROR_SHOWN)
        raise errors.ControllerError(
            errors.CONFLICT,
            f"stack {name!r} could not be planned again on this replica to apply run {run.id}: "
            f"the plan (run {planned.run_id}) failed: {error}; nothing was applied",
        )
    difference = meanings.compare(meanings.of_plan(stored), meanings.of_plan(fresh))
    if not difference.same:
        if not fresh.has_changes:
            then = "it changes nothing, so there is nothing to apply"
        elif planned.decision is guards.Decision.WAIT:
            then = "it waits for an input"
        else:
            then = "review and approve it" if approval else "review it and sync again"
        message = (
            f"stack {name!r}'s plan changed since run {run.id} was {'approved' if approval else 'planned'}: "
            f"{difference.describe()}; the new plan is run {planned.run_id}: {then}"
        )
        log.warning("repository %s: %s", repo.name, message)
        raise errors.ControllerError(errors.CONFLICT, message)
    note = (
        f"truenorth: the plan of run {run.id} was made on another replica; planned again here as run "
        f"{planned.run_id}: the same plan, applied for {actor}"
    )
    log.info("repository %s, stack %s: %s", repo.name, name, note.removeprefix("truenorth: "))

    def started(run_id: int) -> None:
        try:  # the run's log says first why this plan, not the approved run's, is applied
            ctx.rt.store.append_log(run_id, [note])
        except store_errors.StoreError as exc:
            log.warning("cannot write the log of run %d: %s", run_id, exc)
        if on_start is not None:
            on_start(run_id)

    plan = dataclasses.replace(fresh, meta={**fresh.meta, REPLANNED_FROM: run.id})
    outcome = await _apply(
        ctx, stack, revision=revision, plan=plan, plan_run_id=planned.run_id, actor=actor, on_start=started
    )
    step = _after_stored_apply(ctx, repo, stack=stack, revision=revision, outcome=outcome)
    return dataclasses.replace(step, plan_run_id=planned.run_id)


async def _stored_target(
    ctx: contexts.Context, repo: repositories.RepositoryState, *, name: str, run: records.RunRecord
) -> tuple[sources.Revision, specs.StackSpec, str | None, guards.Direction]:
    """The revision and stack a stored plan ``run`` applies, the stack's applied revision and
    the direction from it; refused (conflict) when that revision is older than the applied one."""
    revision = await revision_at(ctx, repo, sha=run.revision)
    stack = await stack_at(ctx, revision, name=name)
    record = await _stack_record(ctx, repo.key, name=name)
    current = record.applied_revision if record else None
    direction = await relation(ctx, repo, applied=current, target=revision.sha)
    refusal = guards.check_apply_direction(direction=direction, target=revision.sha, applied=current)
    if refusal is not None:
        raise refused(refusal)
    return revision, stack, current, direction


def _after_stored_apply(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    stack: specs.StackSpec,
    revision: sources.Revision,
    outcome: executing.Outcome,
) -> Step:
    """What the loop learns from the apply of a stored (approved, synced) plan."""
    track = repo.track(stack.name)
    status = outcome.result.status
    if status.deployed:
        track.drift = False
        track.checked(now=ctx.clock.now(), interval=stack.drift_interval)
    if status is runs.RunStatus.SUCCEEDED:
        track.succeeded()
    else:  # a stale or failed plan: plan again so that a fresh one is shown
        track.demand(
            repo.revision.sha if repo.revision else revision.sha, because=("the stored plan failed",)
        )
    return Step(
        apply_run_id=outcome.run_id,
        ok=status is runs.RunStatus.SUCCEEDED,
        applied=status.deployed,
    )


async def rollback(
    ctx: contexts.Context,
    repo: repositories.RepositoryState,
    *,
    name: str,
    sha: str,
    actor: str,
    reason: str,
    on_start: RunStarted | None = None,
) -> Step:
    """Plan ``name`` at the earlier revision ``sha`` and apply it; both runs record actor and reason."""
    revision = await revision_at(ctx, repo, sha=sha)
    try:
        stack = await stack_at(ctx, revision, name=name)
    except (errors.ControllerError, specs.SpecError):
        raise errors.ControllerError(
            errors.INVALID, f"revision {sha[:12]} does not declare a valid stack {name!r}"
        ) from None
    planned = await _plan(ctx, stack, revision=revision, actor=actor, reason=reason, on_start=on_start)
    if planned.plan is None:
        return Step(plan_run_id=planned.run_id)
    outcome = await _apply(
        ctx,
        stack,
        revision=revision,
        plan=planned.plan,
        plan_run_id=planned.run_id,
        actor=actor,
        reason=reason,
    )
    track = repo.track(name)
    status = outcome.result.status
    if status.deployed:
        track.drift = False
        track.checked(now=ctx.clock.now(), interval=stack.drift_interval)
    if repo.revision is not None and repo.revision.sha != revision.sha:
        # Show what going forward again would change (held for approval).
        track.demand(repo.revision.sha, because=("rolled back",), fresh=True)
    return Step(
        plan_run_id=planned.run_id,
        apply_run_id=outcome.run_id,
        ok=status is runs.RunStatus.SUCCEEDED,
        applied=status.deployed,
    )


async def check_drift(ctx: contexts.Context, repo: repositories.RepositoryState, *, name: str) -> Step:
    """Plan at the deployed revision; changes mean drift. ``self_heal`` re-applies that revision.

    The check's record is one write (:func:`truenorth.core.states.after_drift_check`):
    drift makes the stack out of sync; none clears only the out-of-sync drift caused.
    """
    track = repo.track(name)
    deployed = await ctx.io(lambda: ctx.rt.store.deployed_revision(repository=repo.key, stack=name))
    if deployed is None:
        track.next_drift = None
        return Step(ok=True)
    revision = await revision_at(ctx, repo, sha=deployed)
    stack = await stack_at(ctx, revision, name=name)
    before = await _stack_record(ctx, repo.key, name=name)
    checked = await _plan(
        ctx,
        stack,
        revision=revision,
        kind=runs.RunKind.DRIFT,
        reason="drift check",
        drifted_before=track.drift,
    )
    track.checked(now=ctx.clock.now(), interval=stack.drift_interval)
    if checked.plan is None:
        return Step(plan_run_id=checked.run_id)
    track.drift = checked.plan.has_drift
    await ctx.notifications.drift_checked(revision, stack, checked)
    if not track.drift:
        return Step(plan_run_id=checked.run_id, ok=True)
    log.warning(
        "repository %s, stack %s: drift found at %s (run %d)", repo.name, name, deployed[:12], checked.run_id
    )
    if not stack.self_heal:
        return Step(plan_run_id=checked.run_id, ok=True)
    reason = f"self-heal: drift found by run {checked.run_id}"
    planned = await _plan(ctx, stack, revision=revision, reason=reason)
    if planned.plan is None or not planned.plan.has_changes:
        return Step(plan_run_id=planned.run_id, ok=planned.plan is not None)
    outcome = await _apply(
        ctx, stack, revision=revision, plan=planned.plan, plan_run_id=planned.run_id, reason=reason
    )
    status = outcome.result.status
    if status.deployed:
        track.drift = False
    if repo.revision is not None and (before is not None and before.pending_plan_id is not None):
        track.demand(repo.revision.sha, because=("self-heal replaced the pending plan",))
    return Step(
        plan_run_id=planned.run_id,
        apply_run_id=outcome.run_id,
        ok=status is runs.RunStatus.SUCCEEDED,
        applied=status.deployed,
    )
