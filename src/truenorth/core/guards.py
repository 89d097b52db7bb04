"""The rules that say whether a stack may be applied, approved or rolled back.

Every path that changes a live system (the controller's reconcile, the API's actions,
the CLI's local ``sync``/``approve``/``rollback --repo``) asks these functions and
nothing else, so that they refuse the same things:

* a plan is applied by itself only on an ``auto_apply`` stack and only going forward;
  otherwise it waits for approval;
* ``approve`` needs a stack that waits for approval; ``sync`` and ``approve`` need a
  stored plan that succeeded and has changes;
* history never goes backwards except by an explicit rollback with a reason;
* a rollback goes only to a revision the stack was applied at, and is refused on an
  ``auto_apply`` stack, which would go forward again at once (as Argo CD refuses it
  while automated sync is on);
* a plan made while an input was not known yet (a *waiting* plan: "known after network
  applies") is never applied, by itself or by anybody; an apply whose inputs changed
  since its plan (stale inputs) is refused, and the stack planned again.

Pure: facts in, a :class:`Refusal` (or a :class:`Decision`) out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from truenorth.core import outputs, states

__all__ = [
    "Decision",
    "Direction",
    "Refusal",
    "RefusalKind",
    "StoredPlan",
    "after_plan",
    "check_apply_direction",
    "check_approval",
    "check_inputs_current",
    "check_inputs_known",
    "check_rollback",
    "check_stored_plan",
    "hold_reason",
    "match_revision",
    "waiting_for",
    "waiting_reason",
]


class Direction(enum.StrEnum):
    """Where a target revision lies from the applied one."""

    #: The target is the applied revision, descends from it, or nothing is applied yet.
    FORWARD = "forward"
    #: The target is an ancestor of the applied revision (going back).
    OLDER = "older"
    #: Neither: history was rewritten (a force-push to another line).
    DIVERGED = "diverged"


class RefusalKind(enum.StrEnum):
    """How a caller answers a refusal (HTTP 409, 400, 404; the CLI exits 1 for all)."""

    CONFLICT = "conflict"
    INVALID = "invalid"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused; ``message`` is safe to show."""

    kind: RefusalKind
    message: str


@dataclass(frozen=True)
class StoredPlan:
    """What the guards need to know of a stored plan run."""

    kind: str
    status: str
    has_changes: bool
    #: The plan's inputs that were not known when it was made (their names, and where
    #: they come from: ``db_host (known after network applies)``).
    waiting_for: tuple[str, ...] = ()


class Decision(enum.StrEnum):
    """What follows a successful plan."""

    NOTHING = "nothing"
    APPLY = "apply"
    HOLD = "hold"
    #: An input is not known yet: never applied; planned again once the upstream applies.
    WAIT = "wait"


def after_plan(
    *, has_changes: bool, auto_apply: bool, direction: Direction, waiting: bool = False
) -> Decision:
    """Apply by itself only an ``auto_apply`` stack going forward; hold every other change.

    ``waiting``: the plan was made without some input's value: it waits, whatever else.
    """
    if waiting:
        return Decision.WAIT
    if not has_changes:
        return Decision.NOTHING
    if auto_apply and direction is Direction.FORWARD:
        return Decision.APPLY
    return Decision.HOLD


def hold_reason(*, direction: Direction, target: str, applied: str | None) -> str | None:
    """What a held plan shows when it is held for more than a missing approval."""
    if direction is Direction.DIVERGED:
        return (
            f"waiting for approval: revision {target[:12]} does not descend from the applied revision "
            f"{str(applied)[:12]} (history was rewritten?), so it is never applied automatically"
        )
    return None


def check_approval(*, stack: str, state: states.SyncState) -> Refusal | None:
    """``approve`` needs a stack waiting for approval."""
    if state is not states.SyncState.PENDING_APPROVAL:
        return Refusal(RefusalKind.CONFLICT, f"stack {stack!r} is not waiting for approval (it is {state})")
    return None


def check_stored_plan(*, stack: str, plan: StoredPlan | None) -> Refusal | None:
    """``sync``/``approve`` apply a stored plan: one that exists, succeeded and has changes."""
    if plan is None:
        return Refusal(RefusalKind.CONFLICT, f"stack {stack!r} has no stored plan to apply; plan it first")
    if plan.kind != "plan" or plan.status != "succeeded" or not plan.has_changes:
        return Refusal(
            RefusalKind.CONFLICT, f"the stored plan of stack {stack!r} cannot be applied; plan again"
        )
    if plan.waiting_for:
        return Refusal(RefusalKind.CONFLICT, waiting_reason(stack=stack, waiting_for=plan.waiting_for))
    return None


def waiting_for(inputs: Sequence[outputs.InputValue]) -> tuple[str, ...]:
    """The words for each unknown input of ``inputs``: ``db_host (known after network applies)``."""
    return tuple(f"{item.name} {outputs.known_after(item.ref.stack)}" for item in inputs if not item.known)


def waiting_reason(*, stack: str, waiting_for: Sequence[str]) -> str:
    """Why a waiting plan is not applied (``waiting_for`` as :func:`waiting_for` words them)."""
    noun = "input" if len(waiting_for) == 1 else "inputs"
    return (
        f"the plan of stack {stack!r} cannot be applied: {noun} {', '.join(waiting_for)} not known yet; "
        "it is planned again when that stack is applied"
    )


def check_inputs_known(*, stack: str, inputs: Sequence[outputs.InputValue]) -> Refusal | None:
    """A plan made while an input was unknown is never applied."""
    unknown = waiting_for(inputs)
    if unknown:
        return Refusal(RefusalKind.CONFLICT, waiting_reason(stack=stack, waiting_for=unknown))
    return None


def check_inputs_current(
    *, stack: str, planned: Sequence[outputs.InputValue], current: Mapping[str, outputs.InputValue]
) -> Refusal | None:
    """An apply needs the inputs its plan was made with: refused when one changed since (stale).

    ``current``: the inputs resolved now, by name. An input the plan did not have, or no
    longer has, counts as changed; so does one not known now.
    """
    moved = []
    before = {item.name: item for item in planned}
    for name in sorted(set(before) | set(current)):
        old, new = before.get(name), current.get(name)
        if old is None or new is None or not new.known or old.digest != new.digest:
            known = new or old
            moved.append(f"{name} ({known.ref.source})" if known is not None else name)
    if moved:
        return Refusal(
            RefusalKind.CONFLICT,
            f"the plan of stack {stack!r} is stale: input {', '.join(moved)} changed since it was made; "
            "plan again",
        )
    return None


def check_apply_direction(*, direction: Direction, target: str, applied: str | None) -> Refusal | None:
    """A plan never takes a stack back to an older revision (only a rollback does)."""
    if direction is Direction.OLDER:
        return Refusal(
            RefusalKind.CONFLICT,
            f"revision {target[:12]} is older than the applied revision {str(applied)[:12]} "
            "(the branch was moved back, by a force-push?); use rollback to go back on purpose",
        )
    return None


def check_rollback(
    *, stack: str, auto_apply: bool, reason: str, wanted: str, applied_revisions: Sequence[str]
) -> Refusal | str:
    """The full SHA to roll back to, or why not. ``wanted`` may be a unique prefix (7+ hex digits)."""
    if not reason.strip():
        return Refusal(RefusalKind.INVALID, "a rollback needs a reason")
    if auto_apply:
        return Refusal(
            RefusalKind.CONFLICT,
            f"rollback of stack {stack!r} is refused while auto_apply is on (it would be applied forward "
            "again at once); set auto_apply: false for it first",
        )
    sha = match_revision(wanted, applied_revisions)
    if sha is None:
        return Refusal(
            RefusalKind.INVALID,
            f"revision {wanted[:40]!r} was never applied to stack {stack!r}; roll back to one of its "
            "applied revisions",
        )
    return sha


def match_revision(wanted: str, candidates: Sequence[str]) -> str | None:
    """The one candidate equal to ``wanted`` or starting with it (at least 7 hex digits)."""
    wanted = wanted.strip().lower()[:64]
    if wanted in candidates:
        return wanted
    if len(wanted) < 7 or any(c not in "0123456789abcdef" for c in wanted):
        return None
    found = {sha for sha in candidates if sha.startswith(wanted)}
    return found.pop() if len(found) == 1 else None
