"""From what the controller just did to the notices people hear of (:mod:`truenorth.notify`).

The stack operations (:mod:`.operating`) and the reconcile loop (:mod:`.reconciling`)
call one method here after each event they already record: a plan ends (a failure is
``sync-failed``; a plan held for approval is ``approval-required``), an apply ends
(``sync-succeeded`` or ``sync-failed``), a drift check ends (``drift-detected`` once
until ``drift-resolved``: the rule of :mod:`truenorth.notify.drifts`, over the episodes
announced so far, which :class:`StoredDrifts` keeps in the store so that a restart or
another replica never announces one episode twice),
a stack's health becomes ``Degraded`` from anything better (``health-degraded``; a
stack still rolling out, ``Progressing`` or ``Missing``, is not announced), the source fails (a fetch, a
refused ``truenorth.yaml``: ``source-error``, once until it works again). Each notice
names the repository (its configured name), the stack, the revision with its author and
subject, a one-line summary and the stack's page in the web UI.

Nothing here may slow or stop the controller: :class:`Notifications` only builds a
notice and hands it to the :class:`~truenorth.notify.delivering.Notifier`, which queues
it and returns at once; any error building one is logged and dropped. Without a
configured subscription every method returns at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from truenorth.controller.runs import executing, sources
from truenorth.core import guards, plans, runs, specs, states
from truenorth.notify import delivering, drifts, events
from truenorth.store import errors as store_errors

if TYPE_CHECKING:
    from truenorth.store import database

__all__ = ["Notifications", "StoredDrifts"]

log = logging.getLogger(__name__)


class StoredDrifts:
    """The stacks whose drift was announced and not yet resolved, in the store
    (``store/announcements.py``): one episode, one announcement, whatever replica checks it."""

    def __init__(
        self, store: database.Store, io: Callable[[Callable[[], object]], Awaitable[object]]
    ) -> None:
        self._store = store
        self._io = io

    async def announced(self, repository: str, stack: str) -> bool:
        """Whether ``stack``'s drift was announced and not resolved since."""
        found = await self._io(lambda: self._store.drift_announced(repository=repository, stack=stack))
        return found is True

    async def record(self, repository: str, stack: str, *, revision: str, announced: bool) -> None:
        """Record the drift of ``stack`` announced (or, False, resolved)."""
        await self._io(
            lambda: self._store.set_drift_announced(
                repository=repository, stack=stack, revision=revision, announced=announced
            )
        )


class Notifications:
    """The controller's notices: built from its events, handed to a :class:`Notifier` (or none)."""

    def __init__(
        self,
        notifier: delivering.Notifier | None = None,
        *,
        names: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        drifts: StoredDrifts | None = None,
    ) -> None:
        self.notifier = notifier if notifier is not None and notifier.enabled else None
        #: Where announced drift episodes are kept (None: the notifier's memory).
        self._drifts = drifts
        #: repository key -> configured name (what notices and the UI call it).
        self._names = dict(names or {})
        self._clock = clock
        self._health: dict[tuple[str, str], states.Health] = {}
        self._source_errors: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.notifier is not None

    def plan_finished(
        self,
        revision: sources.Revision,
        stack: specs.StackSpec,
        outcome: executing.Outcome,
        *,
        kind: runs.RunKind = runs.RunKind.PLAN,
    ) -> None:
        """A plan (not a drift check) ended: a failure, or a plan held for approval."""
        if self.notifier is None or kind is runs.RunKind.DRIFT:
            return
        try:
            if outcome.plan is None:
                self._send(
                    events.Event.SYNC_FAILED,
                    revision,
                    stack,
                    summary=f"plan failed (run {outcome.run_id}): {outcome.result.error}",
                )
                return
            if outcome.decision is guards.Decision.HOLD:
                self._send(
                    events.Event.APPROVAL_REQUIRED,
                    revision,
                    stack,
                    summary=f"a plan waits for approval (run {outcome.run_id}): {_headline(outcome.plan)}",
                )
            self._health_seen(revision, stack, outcome.plan.health)
        except Exception:  # a notice is never worth a failed operation
            log.exception("notification after the plan of %s failed", stack.name)

    def apply_finished(
        self, revision: sources.Revision, stack: specs.StackSpec, outcome: executing.Outcome
    ) -> None:
        """An apply ended: ``sync-succeeded`` or ``sync-failed`` (and ``health-degraded``)."""
        if self.notifier is None:
            return
        try:
            result = outcome.result
            if result.status is runs.RunStatus.SUCCEEDED:
                summary = f"applied (run {outcome.run_id})"
                if outcome.plan is not None:
                    summary += f": {_headline(outcome.plan)}"
                self._send(events.Event.SYNC_SUCCEEDED, revision, stack, summary=summary)
            else:
                summary = f"apply {result.status.value} (run {outcome.run_id})"
                if result.error:
                    summary += f": {result.error}"
                self._send(events.Event.SYNC_FAILED, revision, stack, summary=summary)
            self._health_seen(revision, stack, result.health)
        except Exception:
            log.exception("notification after the apply of %s failed", stack.name)

    async def drift_checked(
        self, revision: sources.Revision, stack: specs.StackSpec, outcome: executing.Outcome
    ) -> None:
        """A drift check ended: drift announced once until resolved (a failed check says nothing)."""
        if self.notifier is None or outcome.plan is None:
            return
        try:
            plan = outcome.plan
            drifted = plan.has_drift
            summary = (
                f"the live system differs from revision {revision.sha[:12]} (run {outcome.run_id}): "
                f"{_headline(plan)}"
                if drifted
                else f"the live system matches revision {revision.sha[:12]} again (run {outcome.run_id})"
            )
            notice = self._notice(events.Event.DRIFT_DETECTED, revision, stack, summary)
            if self._drifts is None:
                self.notifier.drift_checked(notice, drifted=drifted)
            else:
                await self._drift_episode(notice, revision, stack, drifted=drifted)
            self._health_seen(revision, stack, plan.health)
        except Exception:
            log.exception("notification after the drift check of %s failed", stack.name)

    def source_failed(self, repository: str, message: str, *, revision: str | None = None) -> None:
        """The repository's source cannot be used: git fails (announced once until it works
        again), or ``revision``'s ``truenorth.yaml`` is refused (once per revision)."""
        key = f"{repository}@{revision}" if revision else repository
        if self.notifier is None or key in self._source_errors:
            return
        self._source_errors.add(key)
        try:
            self.notifier.notify(
                events.Notice(
                    event=events.Event.SOURCE_ERROR,
                    repository=repository,
                    at=self._clock(),
                    revision=revision,
                    summary=message,
                )
            )
        except Exception:
            log.exception("notification of the source error of %s failed", repository)

    def source_works(self, repository: str) -> None:
        """The source works again: its next error is announced again."""
        self._source_errors.discard(repository)

    async def close(self) -> None:
        """Stop delivering (what is still queued is cancelled and recorded so)."""
        if self.notifier is not None:
            await self.notifier.close()

    async def _drift_episode(
        self, notice: events.Notice, revision: sources.Revision, stack: specs.StackSpec, *, drifted: bool
    ) -> None:
        """The drift-once rule over the episodes the store keeps: announce, then record."""
        assert self.notifier is not None and self._drifts is not None
        key = (revision.key, stack.name)
        try:
            before = await self._drifts.announced(*key)
        except store_errors.StoreError as exc:  # the rule in memory, as before the store kept it
            log.warning("drift of %s: the store cannot say what was announced: %s", stack.name, exc)
            self.notifier.drift_checked(notice, drifted=drifted)
            return
        _, event = drifts.Drifts(frozenset({key}) if before else frozenset()).observe(key, drifted=drifted)
        if event is None:
            return
        self.notifier.notify(replace(notice, event=event))
        try:
            await self._drifts.record(*key, revision=revision.sha, announced=drifted)
        except store_errors.StoreError as exc:
            log.warning("drift of %s announced; the store could not record it: %s", stack.name, exc)

    def _health_seen(
        self, revision: sources.Revision, stack: specs.StackSpec, health: states.Health | None
    ) -> None:
        if health is None:
            return
        key = (revision.key, stack.name)
        before = self._health.get(key, states.Health.HEALTHY)
        self._health[key] = health
        if health is states.Health.DEGRADED and health.is_worse_than(before):
            self._send(
                events.Event.HEALTH_DEGRADED,
                revision,
                stack,
                summary=f"health went from {before.value} to {health.value}",
            )

    def _send(
        self, event: events.Event, revision: sources.Revision, stack: specs.StackSpec, *, summary: str
    ) -> None:
        assert self.notifier is not None
        self.notifier.notify(self._notice(event, revision, stack, summary))

    def _notice(
        self, event: events.Event, revision: sources.Revision, stack: specs.StackSpec, summary: str
    ) -> events.Notice:
        return events.Notice(
            event=event,
            repository=self._names.get(revision.key, revision.key),
            at=self._clock(),
            stack=stack.name,
            revision=revision.sha,
            author=revision.commit.author_name,
            subject=revision.commit.subject,
            summary=summary,
        )


def _headline(plan: plans.Plan) -> str:
    return plan.summary.headline()
