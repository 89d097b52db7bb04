"""A stack's sync state and health as types, and the pure rules that move them.

Before this module, states were strings written in about six places, sometimes twice per
operation (a drift check wrote ``synced`` and then restored the previous state). Now
every change of a stack's state is one call of a transition function here: an event in
(a plan finished, an apply started, a drift check found nothing), the new state out.
The controller writes the result once.

Health follows Argo CD's gitops-engine: an ordered enum where a later member is worse,
so that a rollup over many objects is ``max``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Health",
    "SyncState",
    "Transition",
    "after_apply",
    "after_apply_started",
    "after_drift_check",
    "after_interrupted",
    "after_plan",
    "after_refused",
    "health_after_apply",
    "worst",
]


class SyncState(enum.StrEnum):
    """Where a stack stands against Git."""

    #: Never planned, or what happened is not known (after a crash).
    UNKNOWN = "unknown"
    #: The live system matches the applied revision, which is the newest one planned.
    SYNCED = "synced"
    #: A plan or drift check found changes (auto_apply stacks move on to ``applying``).
    OUT_OF_SYNC = "out-of-sync"
    #: A plan with changes waits for someone to approve it.
    PENDING_APPROVAL = "pending-approval"
    #: An apply is running.
    APPLYING = "applying"
    #: The last plan or apply failed.
    FAILED = "failed"

    @classmethod
    def parse(cls, text: str | None) -> SyncState:
        """The state stored as ``text``; anything unknown reads as :attr:`UNKNOWN`."""
        try:
            return cls(text or "unknown")
        except ValueError:
            return cls.UNKNOWN


class Health(enum.StrEnum):
    """How the live system is doing, ordered from best to worst (gitops-engine's order).

    A string by its value (``"Healthy"``, as stored and shown), but ordered by rank, never
    alphabetically: ``Health.HEALTHY < Health.DEGRADED``.
    """

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def rank(self) -> int:
        """0 for the best; a larger rank is worse."""
        return _HEALTH_ORDER.index(self)

    def is_worse_than(self, other: Health) -> bool:
        return self.rank > other.rank

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Health) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Health) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Health) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Health) else NotImplemented

    @property
    def settled(self) -> bool:
        """True for the healths a wait for health ends on successfully (Healthy, Suspended)."""
        return self in (Health.HEALTHY, Health.SUSPENDED)

    @classmethod
    def parse(cls, text: str | None) -> Health:
        """The health stored or reported as ``text`` (any letter case); else :attr:`UNKNOWN`."""
        wanted = (text or "").strip().lower()
        for member in cls:
            if member.value.lower() == wanted:
                return member
        return cls.UNKNOWN


_HEALTH_ORDER = tuple(Health)


def worst(healths: Iterable[Health]) -> Health:
    """The worst of ``healths`` (:attr:`Health.HEALTHY` for none)."""
    found = Health.HEALTHY
    for health in healths:
        if health.is_worse_than(found):
            found = health
    return found


@dataclass(frozen=True)
class Transition:
    """A stack's new state after an event. ``error`` None clears the shown error;
    ``health`` None leaves the health as it was."""

    sync_state: SyncState
    error: str | None = None
    health: Health | None = None

    def fields(self) -> dict[str, str | None]:
        """The stack record's fields this transition sets (states and health by their value)."""
        found: dict[str, str | None] = {"sync_state": self.sync_state.value, "error": self.error}
        if self.health is not None:
            found["health"] = self.health.value
        return found


def after_plan(
    *,
    ok: bool,
    has_changes: bool,
    held: bool = False,
    error: str = "",
    note: str | None = None,
    health: Health | None = None,
) -> Transition:
    """A plan finished: failed, in sync, out of sync, or waiting for approval.

    ``held``: :func:`truenorth.core.guards.after_plan` held its changes (``note`` says
    why, beyond a missing approval); otherwise the caller applies them (auto_apply, a
    rollback, a self-heal) or shows them. ``health``: what the engine saw of the live
    system while planning (Kubernetes), if it says.
    """
    if not ok:
        return Transition(SyncState.FAILED, error=error or "the plan failed", health=health)
    if not has_changes:
        return Transition(SyncState.SYNCED, health=health)
    if held:
        return Transition(SyncState.PENDING_APPROVAL, error=note, health=health)
    return Transition(SyncState.OUT_OF_SYNC, health=health)


def after_refused(*, error: str) -> Transition:
    """An apply was refused before anything ran (an older revision): out of sync, and why."""
    return Transition(SyncState.OUT_OF_SYNC, error=error)


def after_apply_started() -> Transition:
    return Transition(SyncState.APPLYING)


def after_apply(
    *, succeeded: bool, error: str = "", health: Health | None = None, cancelled: bool = False
) -> Transition:
    """An apply finished. ``health`` is the engine's own verdict, when it gave one."""
    if health is None:
        health = health_after_apply(succeeded=succeeded, cancelled=cancelled)
    return Transition(
        SyncState.SYNCED if succeeded else SyncState.FAILED,
        error=(error or None) if not succeeded else None,
        health=health,
    )


def health_after_apply(*, succeeded: bool, cancelled: bool = False) -> Health:
    """Health of an engine that reports none: healthy once applied, degraded when it failed,
    unknown when it was cancelled (what it got to is not known)."""
    if cancelled:
        return Health.UNKNOWN
    return Health.HEALTHY if succeeded else Health.DEGRADED


def after_drift_check(
    previous: SyncState, *, ok: bool, drifted: bool, drifted_before: bool, error: str = ""
) -> Transition | None:
    """A drift check at the deployed revision finished; None means: the state stays as it is.

    Drift makes the stack out of sync. No drift clears only an out-of-sync that drift
    itself caused; it says nothing about a newer revision waiting for approval, a failed
    apply or a refusal, which stay. A failed check keeps the state and shows why (an
    ``applying`` left by nobody reads as unknown).
    """
    if not ok:
        kept = SyncState.UNKNOWN if previous is SyncState.APPLYING else previous
        return Transition(kept, error=f"drift check failed: {error}" if error else "drift check failed")
    if drifted:
        return Transition(SyncState.OUT_OF_SYNC)
    if previous is SyncState.OUT_OF_SYNC and drifted_before:
        return Transition(SyncState.SYNCED)
    if previous in (SyncState.UNKNOWN, SyncState.SYNCED):
        return Transition(SyncState.SYNCED)
    return None


def after_interrupted(previous: SyncState, *, what: str) -> Transition | None:
    """The controller died while ``what`` ran: an interrupted apply leaves the state unknown."""
    if previous is SyncState.APPLYING:
        return Transition(
            SyncState.UNKNOWN,
            error=f"{what} was interrupted when the controller stopped; planning again",
            health=Health.UNKNOWN,
        )
    return None
