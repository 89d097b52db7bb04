"""Applying a stored plan, and rolling back, without a running controller.

``truenorth sync|approve|rollback --repo REPO [--branch BRANCH]`` (no ``--server``) work
on the local data dir the way the controller's actions do on its own, on the records of
(REPO, BRANCH), the default branch when none is given: ``sync``/``approve`` apply exactly
the plan ``truenorth plan`` stored for the stack (the engine refuses it when stale), and
``rollback`` plans and applies an earlier *applied* revision of the stack, recording who
and why. Nothing here guesses: no stored plan or a never-applied revision is an error.
"""

from __future__ import annotations

from pathlib import Path

from truenorth.controller.runs import executing, runtime, validating
from truenorth.core import runs, specs
from truenorth.git import urls

__all__ = ["ActionError", "apply_stored_plan", "roll_back"]


class ActionError(RuntimeError):
    """The action cannot be done; the message says why (and is safe to show)."""


def apply_stored_plan(
    rt: runtime.Runtime, repo: str, stack: str, *, actor: str, branch: str | None = None
) -> executing.Outcome:
    """Apply the plan stored for ``stack`` of (``repo``, ``branch``): the newest plan with changes not yet applied."""
    repository = rt.sources.key(repo, branch=branch)
    record = rt.store.get_stack(repository=repository, name=stack)
    if record is None or not record.pending_plan_id:
        raise ActionError(f"stack {stack!r} has no stored plan to apply; run `truenorth plan {repo}` first")
    planned = rt.store.get_run(record.pending_plan_id)
    if planned is None or planned.kind != runs.RunKind.PLAN.value or planned.status != "succeeded":
        raise ActionError(f"the stored plan of stack {stack!r} is gone; plan again")
    revision = rt.sources.checkout(repo, ref=planned.revision, branch=urls.branch_of(repository))
    spec = _stack_at(revision.checkout, stack)
    plan = executing.plan_from_record(
        stack=stack,
        engine=spec.engine,
        revision=planned.revision,
        summary=planned.summary,
        changes=planned.changes,
    )
    return executing.apply_stack(rt, revision, spec, plan, plan_run_id=planned.id, actor=actor)


def roll_back(
    rt: runtime.Runtime,
    repo: str,
    stack: str,
    *,
    revision: str,
    actor: str,
    reason: str,
    branch: str | None = None,
) -> executing.Outcome:
    """Plan ``stack`` of (``repo``, ``branch``) at an earlier applied ``revision`` and apply it, recording ``reason``."""
    if not reason.strip():
        raise ActionError("a rollback needs a reason")
    repository = rt.sources.key(repo, branch=branch)
    target = rt.sources.checkout(repo, ref=revision, branch=urls.branch_of(repository))
    applied = {
        run.revision
        for run in rt.store.list_runs(stack=stack, repository=repository, kind="apply", limit=1000)
        if run.status in ("succeeded", "partial")
    }
    if target.sha not in applied:
        raise ActionError(
            f"{target.sha[:12]} was never applied to stack {stack!r}; only applied revisions roll back"
        )
    spec = _stack_at(target.checkout, stack)
    planned = executing.plan_stack(rt, target, spec, actor=actor)
    if planned.plan is None:
        raise ActionError(f"planning {stack!r} at {target.sha[:12]} failed: {planned.result.error}")
    return executing.apply_stack(
        rt, target, spec, planned.plan, plan_run_id=planned.run_id, actor=actor, reason=f"rollback: {reason}"
    )


def _stack_at(checkout: Path, stack: str) -> specs.StackSpec:
    try:
        return validating.validate_checkout(checkout).stack(stack)
    except specs.SpecError as exc:
        raise ActionError(f"that revision is invalid: {exc}") from None
    except KeyError:
        raise ActionError(f"that revision has no stack {stack!r}") from None
