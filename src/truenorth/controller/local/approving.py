"""Applying a stored plan, and rolling back, without a running controller.

``truenorth sync|approve|rollback --repo REPO [--branch BRANCH]`` (no ``--server``) work
on the local data dir the way the controller's actions do on its own, on the records of
(REPO, BRANCH), the default branch when none is given: ``sync``/``approve`` apply exactly
the plan ``truenorth plan`` stored for the stack (the engine refuses it when stale), and
``rollback`` plans and applies an earlier *applied* revision of the stack, recording who
and why. They refuse what the controller refuses, asking the same guards through
:mod:`truenorth.controller.runs.guarding`: ``approve`` needs a stack waiting for
approval; both need a stored plan that succeeded with changes, for a revision not older
than the applied one; a rollback needs a reason and a revision the stack was applied at,
and is refused while the stack is ``auto_apply`` (as the branch's head declares it).
"""

from __future__ import annotations

from pathlib import Path

from truenorth import paths
from truenorth.controller.local import holding
from truenorth.controller.runs import executing, guarding, runtime, sources, validating
from truenorth.core import specs
from truenorth.git import errors as git_errors
from truenorth.git import urls

__all__ = ["ActionError", "apply_stored_plan", "roll_back"]


class ActionError(RuntimeError):
    """The action cannot be done; the message says why (and is safe to show)."""


def apply_stored_plan(
    rt: runtime.Runtime,
    repo: str,
    stack: str,
    *,
    actor: str,
    branch: str | None = None,
    approval: bool = False,
) -> executing.Outcome:
    """Apply the plan stored for ``stack`` of (``repo``, ``branch``) (``approval``: as ``approve``).

    The stack is held throughout (:func:`.holding.hold`; :class:`.holding.StackBusy` when taken).
    """
    repository = rt.sources.key(repo, branch=branch)
    command = "truenorth approve --repo" if approval else "truenorth sync --repo"
    with holding.hold(rt, repository, [stack], command=command):
        return _apply_stored(rt, repo, stack, repository=repository, actor=actor, approval=approval)


def _apply_stored(
    rt: runtime.Runtime, repo: str, stack: str, *, repository: str, actor: str, approval: bool
) -> executing.Outcome:
    try:
        planned = guarding.stored_plan(rt.store, repository=repository, stack=stack, approval=approval)
    except guarding.RefusedError as exc:
        raise ActionError(exc.refusal.message) from None
    revision = rt.sources.checkout(repo, ref=planned.revision, branch=urls.branch_of(repository))
    record = rt.store.get_stack(repository=repository, name=stack)
    try:
        guarding.check_forward(
            rt.sources.cache,
            revision.url,
            applied=record.applied_revision if record is not None else None,
            target=revision.sha,
        )
    except guarding.RefusedError as exc:
        raise ActionError(exc.refusal.message) from None
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
    """Plan ``stack`` of (``repo``, ``branch``) at an earlier applied ``revision`` and apply it, recording ``reason``.

    The stack is held throughout (:func:`.holding.hold`; :class:`.holding.StackBusy` when taken).
    """
    repository = rt.sources.key(repo, branch=branch)
    with holding.hold(rt, repository, [stack], command="truenorth rollback --repo"):
        return _roll_back(
            rt, repo, stack, repository=repository, revision=revision, actor=actor, reason=reason
        )


def _roll_back(
    rt: runtime.Runtime, repo: str, stack: str, *, repository: str, revision: str, actor: str, reason: str
) -> executing.Outcome:
    name = urls.branch_of(repository)
    head = rt.sources.checkout(repo, ref=f"refs/heads/{name}", branch=name)
    try:
        sha = guarding.rollback_target(
            rt.store,
            repository=repository,
            stack=stack,
            auto_apply=_auto_apply(rt, repo, head, stack=stack, repository=repository),
            reason=reason,
            wanted=revision,
        )
    except guarding.RefusedError as exc:
        raise ActionError(exc.refusal.message) from None
    target = rt.sources.checkout(repo, ref=sha, branch=urls.branch_of(repository), fetch=False)
    spec = _stack_at(target.checkout, stack)
    planned = executing.plan_stack(rt, target, spec, actor=actor)
    if planned.plan is None:
        raise ActionError(f"planning {stack!r} at {target.sha[:12]} failed: {planned.result.error}")
    return executing.apply_stack(
        rt, target, spec, planned.plan, plan_run_id=planned.run_id, actor=actor, reason=f"rollback: {reason}"
    )


def _auto_apply(
    rt: runtime.Runtime, repo: str, head: sources.Revision, *, stack: str, repository: str
) -> bool:
    """Whether ``stack`` is ``auto_apply`` as the newest valid revision declares it: the
    branch's head, else (the head is invalid) the revision the stack was applied at."""
    found = _declared_auto_apply(head.checkout, stack)
    if found is None:
        deployed = rt.store.deployed_revision(repository=repository, stack=stack)
        if deployed is not None:
            branch = urls.branch_of(repository)
            try:
                at_deploy = rt.sources.checkout(repo, ref=deployed, branch=branch, fetch=False)
            except git_errors.GitError:
                return False
            found = _declared_auto_apply(at_deploy.checkout, stack)
    return bool(found)


def _declared_auto_apply(checkout: Path, stack: str) -> bool | None:
    try:
        return validating.validate_checkout(checkout).stack(stack).auto_apply
    except (specs.SpecError, paths.PathEscapeError, KeyError):
        return None


def _stack_at(checkout: Path, stack: str) -> specs.StackSpec:
    try:
        return validating.validate_checkout(checkout).stack(stack)
    except specs.SpecError as exc:
        raise ActionError(f"that revision is invalid: {exc}") from None
    except KeyError:
        raise ActionError(f"that revision has no stack {stack!r}") from None
