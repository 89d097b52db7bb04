"""The parts every controller task shares, gathered in one object.

The reconcile loops, the stack operations and the facade's actions all need the same
runtime (store, engines, mirror cache), clock, worker pools, stack locks, metrics and
redactor. :class:`Context` holds them, plus two small shared facts: whether the store is
failing right now (readiness) and what is running (so tests and shutdown can wait for
quiet).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from truenorth import config
from truenorth.controller.loop import clocks, locks, metrics, notifying, workers
from truenorth.controller.runs import runtime
from truenorth.core import redaction, specs

__all__ = ["COMMIT_CACHE", "DEFAULT_OPERATION_SLOTS", "Activity", "Context", "StoreHealth"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_SPEC_CACHE = 64
#: Commits whose author and subject the views show (applied revisions): bounded, newest kept.
COMMIT_CACHE = 1024


class Activity:
    """Wakes whoever waits on the controller's state, whenever something starts or ends.

    Every engine and I/O call, park and action end calls :meth:`changed`; waiters re-check
    their condition then (no polling). With replicas, so does a view changing on another
    replica (a run started or ended there, a stack's state, a publication): the router's
    listener hears it on ``truenorth_activity`` (:mod:`.routing`) and calls :meth:`changed`
    on the event loop, so the live event streams (``server/events.py``) wake on every
    replica, not only on the repository's owner. Call it on the event loop only.
    """

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self.actions = 0

    def changed(self) -> None:
        self._changed.set()

    async def next_change(self) -> None:
        """Return at the next :meth:`changed` (one waiter's clear never hides a change from another)."""
        self._changed.clear()
        await self._changed.wait()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds (checked after every change)."""
        while not condition():
            self._changed.clear()
            await self._changed.wait()


#: Operation slots when nobody says otherwise (the default ``workers``).
DEFAULT_OPERATION_SLOTS = 4


@dataclass
class StoreHealth:
    """Whether the last store access failed, and why (redacted)."""

    failing: bool = False
    error: str | None = None

    def failed(self, message: str) -> None:
        if not self.failing:
            log.error("the store is failing: %s", message)
        self.failing, self.error = True, message

    def ok(self) -> None:
        if self.failing:
            log.info("the store works again")
        self.failing, self.error = False, None


@dataclass
class Context:
    """Shared services of one controller."""

    rt: runtime.Runtime
    settings: config.ControllerConfig
    clock: clocks.Clock
    metrics: metrics.Metrics
    engine_pool: workers.WorkerPool
    io_pool: workers.WorkerPool
    locks: locks.StackLocks
    redactor: redaction.Redactor
    activity: Activity = field(default_factory=Activity)
    store_health: StoreHealth = field(default_factory=StoreHealth)
    #: full SHA -> {"sha", "author", "date", "subject"} (bounded, newest kept; written only
    #: on the event loop, read by the views from the API's threads with ``get``)
    commits: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    #: full SHA -> the validated spec of that revision (bounded, newest kept)
    spec_cache: OrderedDict[str, specs.RepoSpec] = field(default_factory=OrderedDict)
    #: Set once crash recovery has run; loops wait for it.
    recovered: asyncio.Event = field(default_factory=asyncio.Event)
    #: Who hears of what happened (:mod:`.notifying`; does nothing without subscriptions).
    notifications: notifying.Notifications = field(default_factory=notifying.Notifications)
    #: Reconcile operations that may hold their stack's lock at once (the controller sets
    #: it to ``workers``). Taken *before* the stack lock: on PostgreSQL each held lock is a
    #: database session of its own, so a pass that finds 1,000 stacks due must not open
    #: 1,000 sessions (and file descriptors) to wait for a few engine workers.
    operation_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(DEFAULT_OPERATION_SLOTS)
    )

    def redact(self, text: str) -> str:
        """``text`` without configured secrets or URL credentials."""
        return self.redactor(text)

    async def io(self, call: Callable[[], T]) -> T:
        """Run a short blocking call (git, store) in the I/O pool."""
        try:
            return await self.io_pool.run(call, wait_on_cancel=False)
        finally:
            self.activity.changed()

    async def engine(self, call: Callable[[threading.Event], T]) -> T:
        """Run an engine operation in the bounded worker pool with its own cancel event."""
        cancel = threading.Event()
        try:
            return await self.engine_pool.run(lambda: call(cancel), cancel=cancel)
        finally:
            self.activity.changed()

    def remember_commit(self, sha: str, details: dict[str, Any]) -> None:
        """Keep the details of commit ``sha`` for the views (the oldest go past the bound)."""
        self.commits[sha] = details
        self.commits.move_to_end(sha)
        while len(self.commits) > COMMIT_CACHE:
            self.commits.popitem(last=False)

    def remember_spec(self, sha: str, spec: specs.RepoSpec) -> None:
        self.spec_cache[sha] = spec
        self.spec_cache.move_to_end(sha)
        while len(self.spec_cache) > _SPEC_CACHE:
            self.spec_cache.popitem(last=False)
