"""Asking the guards: the facts both apply paths gather for :mod:`truenorth.core.guards`.

The controller's actions (:mod:`truenorth.controller.actions.facade`,
:mod:`truenorth.controller.loop.operating`) and the CLI's local ``sync``/``approve``/
``rollback --repo`` (:mod:`truenorth.controller.local.approving`) refuse the same
things because they read the same facts here (the stack's record and stored plan, the
revisions it was applied at, where a revision lies in Git's history) and ask the same
pure rules. A refusal is raised as :class:`RefusedError`; each caller turns it into its own
error (``ControllerError`` for the API, an exit 1 for the CLI).
"""

from __future__ import annotations

import logging

from truenorth.controller.runs import executing, resolving
from truenorth.core import guards, inputs, specs, states
from truenorth.git import ancestry, mirrors
from truenorth.git import errors as git_errors
from truenorth.store import database, records

__all__ = [
    "MAX_HISTORY",
    "RefusedError",
    "applied_revisions",
    "check_forward",
    "check_inputs_unchanged",
    "direction",
    "rollback_target",
    "stored_plan",
]

log = logging.getLogger(__name__)

#: How many of a stack's applies a rollback looks back through.
MAX_HISTORY = 1000


class RefusedError(Exception):
    """A guard refused the action; ``refusal`` says how and why (safe to show)."""

    def __init__(self, refusal: guards.Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def stored_plan(store: database.Store, *, repository: str, stack: str, approval: bool) -> records.RunRecord:
    """The stored plan ``sync`` (or, ``approval``, ``approve``) of ``stack`` would apply.

    Raises :class:`RefusedError` when ``approve`` finds the stack not waiting for approval,
    there is no stored plan that succeeded with changes, or that plan waits for an input.
    """
    record = store.get_stack(repository=repository, name=stack)
    if approval:
        state = states.SyncState.parse(record.sync_state if record is not None else None)
        _raise(guards.check_approval(stack=stack, state=state))
    run = None
    if record is not None and record.pending_plan_id is not None:
        run = store.get_run(record.pending_plan_id)
    facts = None
    if run is not None:
        facts = guards.StoredPlan(
            kind=run.kind,
            status=run.status,
            has_changes=bool(run.summary.get("has_changes", False)),
            waiting_for=guards.waiting_for(
                [executing.input_from_record(item) for item in run.summary.get("inputs") or ()]
            ),
        )
    _raise(guards.check_stored_plan(stack=stack, plan=facts))
    assert run is not None
    return run


def check_inputs_unchanged(
    store: database.Store, *, repository: str, stack: specs.StackSpec, run: records.RunRecord
) -> None:
    """Refuse (:class:`RefusedError`) to plan ``stack`` again for its stored plan ``run``
    when an input changed since that plan was made, as an apply of it would be refused.

    A replica that cannot apply another's saved plan plans again with the same inputs;
    with other inputs it would be another plan, and nobody approved that one.
    """
    planned = [executing.input_from_record(item) for item in run.summary.get("inputs") or ()]
    if not stack.inputs and not planned:
        return
    try:
        current = resolving.resolve(store, repository=repository, stack=stack).check().inputs
    except inputs.InputError as exc:
        raise RefusedError(
            guards.Refusal(guards.RefusalKind.CONFLICT, f"the plan of stack {stack.name!r} is stale: {exc}")
        ) from None
    _raise(guards.check_inputs_current(stack=stack.name, planned=planned, current=current))


def applied_revisions(store: database.Store, *, repository: str, stack: str) -> list[str]:
    """The revisions ``stack`` was applied at (fully or partly), newest first."""
    runs = store.list_runs(
        stack=stack, repository=repository, kind="apply", status=records.DEPLOYED_STATUSES, limit=MAX_HISTORY
    )
    return list(dict.fromkeys(run.revision for run in runs))


def rollback_target(
    store: database.Store, *, repository: str, stack: str, auto_apply: bool, reason: str, wanted: str
) -> str:
    """The full SHA a rollback of ``stack`` to ``wanted`` (a SHA or a 7+ digit prefix) goes to.

    Raises :class:`RefusedError` without a reason, for an ``auto_apply`` stack, and for a
    revision the stack was never applied at.
    """
    found = guards.check_rollback(
        stack=stack,
        auto_apply=auto_apply,
        reason=reason,
        wanted=wanted,
        applied_revisions=applied_revisions(store, repository=repository, stack=stack),
    )
    if isinstance(found, guards.Refusal):
        raise RefusedError(found)
    return found


def direction(cache: mirrors.MirrorCache, url: str, *, applied: str | None, target: str) -> guards.Direction:
    """Where ``target`` lies from the ``applied`` revision in the mirror of ``url`` (fetched).

    Blocking (git). A comparison git cannot make reads as :attr:`~guards.Direction.DIVERGED`:
    never applied automatically, and never refused as older either.
    """
    if applied is None or applied == target:
        return guards.Direction.FORWARD
    try:
        if ancestry.is_ancestor(cache, url, ancestor=applied, descendant=target):
            return guards.Direction.FORWARD
        if ancestry.is_ancestor(cache, url, ancestor=target, descendant=applied):
            return guards.Direction.OLDER
    except git_errors.GitError as exc:
        log.warning("cannot compare %s with %s: %s", target[:12], applied[:12], exc)
    return guards.Direction.DIVERGED


def check_forward(
    cache: mirrors.MirrorCache, url: str, *, applied: str | None, target: str
) -> guards.Direction:
    """:func:`direction`, raising :class:`RefusedError` when ``target`` is older than ``applied``."""
    found = direction(cache, url, applied=applied, target=target)
    _raise(guards.check_apply_direction(direction=found, target=target, applied=applied))
    return found


def _raise(refusal: guards.Refusal | None) -> None:
    if refusal is not None:
        raise RefusedError(refusal)
