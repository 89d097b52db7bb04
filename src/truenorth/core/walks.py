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
    Dependencies outside ``order`` count as finished before the walk.
    """

    def __init__(self, order: Sequence[tuple[str, Iterable[str]]]) -> None:
        self._order = [name for name, _ in order]
        direct = {name: tuple(deps) for name, deps in order}
        inside = set(direct)
        # Transitive upstream within the walk, computed once in dependency order (no recursion).
        self._upstream: dict[str, frozenset[str]] = {}
        for name in self._order:
            found: set[str] = set()
            for dep in direct[name]:
                if dep in inside:
                    found.add(dep)
                    found |= self._upstream.get(dep, frozenset())
            self._upstream[name] = frozenset(found)
        self._ended: dict[str, Ended] = {}
        self._running: set[str] = set()
        self._handed: set[str] = set()

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
        for name in self._order:
            if name in self._handed:
                continue
            upstream = self._upstream[name]
            if any(dep not in self._ended for dep in upstream):
                continue
            failed = tuple(dep for dep in self._order if dep in upstream and self._ended[dep] is Ended.FAILED)
            skipped = any(self._ended[dep] is Ended.SKIPPED for dep in upstream)
            self._handed.add(name)
            if failed or skipped:
                culprits = failed or self._failed_roots(upstream)
                self._ended[name] = Ended.SKIPPED
                steps.append(Skip(stack=name, failed=culprits))
                continue
            waiting = tuple(
                dep for dep in self._order if dep in upstream and self._ended[dep] is Ended.WAITING
            )
            if waiting:
                self._ended[name] = Ended.WAITING
                steps.append(Wait(stack=name, waiting_for=waiting))
                continue
            applied = tuple(
                dep for dep in self._order if dep in upstream and self._ended[dep] is Ended.APPLIED
            )
            self._running.add(name)
            steps.append(Start(stack=name, applied_upstream=applied))
        return steps

    def finish(self, name: str, ended: Ended) -> None:
        """Report that a started stack ended."""
        if name not in self._running:
            raise ValueError(f"stack {name!r} was not started in this walk")
        self._running.discard(name)
        self._ended[name] = ended

    def _failed_roots(self, upstream: frozenset[str]) -> tuple[str, ...]:
        roots: set[str] = set()
        for dep in upstream:
            if self._ended.get(dep) is Ended.SKIPPED:
                roots |= {d for d in self._upstream[dep] if self._ended.get(d) is Ended.FAILED}
        return tuple(name for name in self._order if name in roots)
