"""When each stack's next operation is due: pending plans, retry backoff, drift checks.

The reconcile loop keeps one :class:`StackTrack` per stack. A stack that *needs* work
(a new revision touched it, a dependency moved, recovery after a crash) is attempted
when due; a failed plan or apply is retried with the configured backoff (5 s doubling
to 3 min, 5 tries in all by default, like Argo CD) and then left alone for that
revision: a failed sync is not retried for the same commit beyond that. A new revision
that touches the stack, or an explicit refresh, starts the count again. Drift checks
are due ``drift_interval`` after the stack's last plan, apply or drift check.

:class:`Backoff` is the same schedule for a repository's git failures, without a limit
on tries: the source recovers by itself when git answers again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from truenorth import config

__all__ = ["Backoff", "StackTrack"]


@dataclass
class StackTrack:
    """The loop's bookkeeping for one stack (mutable; touched only on the event loop)."""

    #: Must be planned (and applied when auto_apply) at the repository's newest revision.
    needs: bool = False
    #: Why, for logs.
    because: tuple[str, ...] = ()
    #: The last operation at ``attempt_revision`` failed.
    failed: bool = False
    #: Retries for ``attempt_revision`` are used up.
    gave_up: bool = False
    attempts: int = 0
    attempt_revision: str | None = None
    next_try: float = 0.0
    #: Dependencies' applied revisions when this stack was last planned (None: unknown).
    planned_with: dict[str, str | None] | None = None
    #: What each of its inputs rested on when it was last planned (None: unknown); an
    #: output it reads changed when this differs (:func:`truenorth.core.impacts.input_moves`).
    planned_basis: dict[str, str] | None = None
    #: When the next drift check is due (None: not deployed, nothing to check).
    next_drift: float | None = None
    #: The last drift check found changes (cleared by an apply).
    drift: bool = False
    #: The revision at which a "skipped because a dependency failed" run was recorded.
    skip_recorded: str | None = None

    def demand(self, revision: str | None, *, because: tuple[str, ...] = (), fresh: bool = False) -> None:
        """Mark the stack as needing a plan at ``revision``; a new revision (or ``fresh``) resets retries."""
        self.needs = True
        self.because = because
        if fresh or revision != self.attempt_revision:
            self.attempt_revision = revision
            self.attempts = 0
            self.gave_up = False
            self.next_try = 0.0

    def due(self, now: float) -> bool:
        """True when the stack needs work and its backoff has passed."""
        return self.needs and not self.gave_up and now >= self.next_try

    def succeeded(self) -> None:
        """The work is done: nothing pending, no failure, retries reset."""
        self.needs = False
        self.because = ()
        self.failed = False
        self.gave_up = False
        self.attempts = 0
        self.next_try = 0.0

    def failed_attempt(self, *, revision: str | None, now: float, retry: config.RetryConfig) -> float | None:
        """Count a failure; return when to try again, or None when the tries are used up."""
        if revision != self.attempt_revision:
            self.attempt_revision = revision
            self.attempts = 0
        self.failed = True
        self.attempts += 1
        if self.attempts >= retry.tries:
            self.gave_up = True
            return None
        self.next_try = now + retry.delay(self.attempts)
        return self.next_try

    def checked(self, *, now: float, interval: float | None) -> None:
        """Schedule the next drift check ``interval`` from ``now`` (None: no checks)."""
        self.next_drift = None if interval is None else now + interval


@dataclass
class Backoff:
    """Capped exponential backoff with unlimited tries (git outages)."""

    retry: config.RetryConfig = field(default_factory=config.RetryConfig)
    failures: int = 0

    def failed(self) -> float:
        """Count a failure; return the seconds to wait before the next try."""
        self.failures += 1
        return self.retry.delay(self.failures)

    def reset(self) -> None:
        """A success: the next failure starts from the initial delay again."""
        self.failures = 0
