"""Drift is announced once until it is resolved, not at every drift check.

The controller checks each stack for drift every ``drift_interval``; a stack that stays
drifted for a day would otherwise fill a chat with the same message. The rule is one
pure function over the set of stacks whose drift was announced: the first check that
finds drift announces ``drift-detected`` and remembers the stack; later checks that
still find drift say nothing; the first check that finds none after that announces
``drift-resolved`` and forgets it. A check that finds no drift on a stack never
announced says nothing either. (Argo CD sends on every change of sync status; Flux
rate-limits alerts to one per 5 minutes: both repeat a drift that lasts.)

The controller applies the rule to the set the store keeps
(``controller/loop/notifying.py``, ``store/announcements.py``), so a restart or another
replica never announces an episode twice; :class:`~truenorth.notify.delivering.Notifier`
keeps its own set in memory for callers without a store. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from truenorth.notify import events

__all__ = ["Drifts"]


@dataclass(frozen=True)
class Drifts:
    """The stacks (``(repository, stack)``) whose drift is announced and not yet resolved."""

    announced: frozenset[tuple[str, str]] = frozenset()

    def observe(self, key: tuple[str, str], *, drifted: bool) -> tuple[Drifts, events.Event | None]:
        """After a drift check of ``key``: the new set, and the event to announce (or None)."""
        if drifted and key not in self.announced:
            return Drifts(self.announced | {key}), events.Event.DRIFT_DETECTED
        if not drifted and key in self.announced:
            return Drifts(self.announced - {key}), events.Event.DRIFT_RESOLVED
        return self, None
