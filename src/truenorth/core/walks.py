"""Walking the stacks of one revision in dependency order: the one home of that rule.

Both ways of converging a revision walk its stacks the same way: the CLI's one-shot
``truenorth apply`` (threads) and the controller's reconcile pass (asyncio). A stack
starts once every stack it depends on, directly or through others, has finished in this
walk; independent stacks may run at the same time. A stack whose dependency failed is
skipped, and the skip names the failed stacks; a stack whose dependency is still waiting
(a retry not yet due, an approval) waits too, silently. A stack whose dependency was
applied in this walk is told so (its earlier plan read the old outputs: plan it again).

:class:`Walk` is pure bookkeeping (no I/O, no clock): callers ask :meth:`Walk.ready`,
run what it returns however they like, and report each end with :meth:`Walk.finish`.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Ended", "Skip", "Start", "Wait", "Walk"]


class Ended(enum.StrEnum):
    """How a stack's turn in a walk ended."""

    #: Planned (and applied if due): nothing more to do.
    OK = "ok"
    #: Applied in this walk: dependents re-read its outputs.
    APPLIED = "applied"
    #: Its plan or apply failed: dependents are skipped.
    FAILED = "failed"
    #: Skipped because a dependency failed: its dependents are skipped too.
    SKIPPED = "skipped"
    #: Not converged yet, and not failed (a retry not due, waiting for approval).
    WAITING = "waiting"


@dataclass(frozen=True)
class Start:
    """Run ``stack`` now. ``applied_upstream``: dependencies applied earlier in this walk."""

    stack: str
    applied_upstream: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skip:
    """Do not run ``stack``: ``failed`` upstream stacks failed. Record the skip."""

    stack: str
    failed: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"not applied: dependency {', '.join(self.failed)} failed"


@dataclass(frozen=True)
class Wait:
    """Do not run ``stack`` yet: ``waiting_for`` upstream stacks have not converged."""

    stack: str
    waiting_for: tuple[str, ...]


Step = Start | Skip | Wait


class Walk:
    """The progress of one walk over ``order`` (names with their direct dependencies).

    ``order`` must list dependencies before dependents (``RepoSpec.order()``).
    Dependencies outside ``order`` count as finished before the walk. Every call costs
    time in proportion to what it hands out (Kahn's algorithm on direct dependencies):
    a chain of thousands of stacks walks in linear time.
    """

    def __init__(self, order: Sequence[tuple[str, Iterable[str]]]) -> None:
        self._order = [name for name, _ in order]
        self._index = {name: index for index, name in enumerate(self._order)}
        self._dependents: dict[str, list[str]] = {name: [] for name in self._order}
        self._remaining: dict[str, int] = {}
        for name, deps in order:
            inside = {dep for dep in deps if dep in self._index}
            self._remaining[name] = len(inside)
            for dep in inside:
                self._dependents[dep].append(name)
        self._ended: dict[str, Ended] = {}
        self._running: set[str] = set()
        # What each ended stack passes on to its dependents (names in walk order):
        # the failed stacks behind it, the waiting ones, and the ones applied.
        self._failed_by: dict[str, frozenset[str]] = {}
        self._waiting_by: dict[str, frozenset[str]] = {}
        self._applied_by: dict[str, frozenset[str]] = {}
        self._deps: dict[str, tuple[str, ...]] = {
            name: tuple(dep for dep in deps if dep in self._index) for name, deps in order
        }
        self._due = [self._index[name] for name in self._order if self._remaining[name] == 0]
        heapq.heapify(self._due)

    @property
    def done(self) -> bool:
        """True once every stack has ended (started ones included)."""
        return not self._running and len(self._ended) == len(self._order)

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def ended(self) -> Mapping[str, Ended]:
        return dict(self._ended)

    def ready(self) -> list[Step]:
        """The steps that can be taken now, in dependency order.

        A :class:`Start` marks the stack running until :meth:`finish`; a :class:`Skip`
        or :class:`Wait` ends it at once (as skipped or waiting), so callers only record
        them.
        """
        steps: list[Step] = []
        while self._due:
            name = self._order[heapq.heappop(self._due)]
            failed = self._union(self._failed_by, name)
            if failed:
                steps.append(Skip(stack=name, failed=failed))
                self._end(name, Ended.SKIPPED)
                continue
            waiting = self._union(self._waiting_by, name)
            if waiting:
                steps.append(Wait(stack=name, waiting_for=waiting))
                self._end(name, Ended.WAITING)
                continue
            self._running.add(name)
            steps.append(Start(stack=name, applied_upstream=self._union(self._applied_by, name)))
        return steps

    def finish(self, name: str, ended: Ended) -> None:
        """Report that a started stack ended."""
        if name not in self._running:
            raise ValueError(f"stack {name!r} was not started in this walk")
        self._running.discard(name)
        self._end(name, ended)

    def _union(self, passed: dict[str, frozenset[str]], name: str) -> tuple[str, ...]:
        found: set[str] = set()
        for dep in self._deps[name]:
            found |= passed[dep]
        return tuple(sorted(found, key=self._index.__getitem__))

    def _end(self, name: str, ended: Ended) -> None:
        self._ended[name] = ended
        inherited = {
            "failed": self._union(self._failed_by, name),
            "waiting": self._union(self._waiting_by, name),
            "applied": self._union(self._applied_by, name),
        }
        self._failed_by[name] = frozenset(inherited["failed"]) | (
            {name} if ended is Ended.FAILED else frozenset()
        )
        self._waiting_by[name] = frozenset(inherited["waiting"]) | (
            {name} if ended is Ended.WAITING else frozenset()
        )
        self._applied_by[name] = frozenset(inherited["applied"]) | (
            {name} if ended is Ended.APPLIED else frozenset()
        )
        for dependent in self._dependents[name]:
            self._remaining[dependent] -= 1
            if self._remaining[dependent] == 0:
                heapq.heappush(self._due, self._index[dependent])
