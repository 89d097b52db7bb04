"""Several controllers on one PostgreSQL store: membership, repository leases, takeovers.

Every ``truenorth serve`` on a PostgreSQL store is a *replica* whose id is the ``holder``
of the runs it records. Every third of the lease time (``lease_seconds``, 30 s by
default) it says it is alive (``Store.heartbeat``), renews the leases it holds in one
statement, and reads the live replicas and the leases of its repositories. Which
repositories it should hold is the pure rule of :mod:`truenorth.core.assignments`, the
same on every replica. It then

- *takes* the leases it should hold that nobody holds, or whose holder let them expire
  (and only once it has itself been in touch with the database for a whole lease time,
  so that after a database outage the replicas renew their own leases before anyone
  takes another's): it starts that repository's reconcile loop on a fresh state, as
  after a restart. A lease taken from another replica (*takeover*) first ends as
  ``interrupted`` the runs that replica had in flight in that repository and nobody
  else's, fails the requests it had taken, and plans those stacks again; a plan is
  never applied blindly;
- *hands back* the leases another live replica should hold, once no operation of that
  repository runs (its loop starts no new one meanwhile);
- *stops working* on a repository whose lease it lost (renewal says so, or the database
  was out of reach for a lease time): the operation running finishes, no new one starts.

Whatever the leases say, each plan or apply also holds the stack's database lock
(:mod:`.locks`, :meth:`stack_lock`), refused here for a repository this replica does not
hold. Webhooks and actions for a repository another replica holds go through the
database (:mod:`.routing`). On SQLite (one controller by rule) none of this runs: the
replica holds every repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from truenorth.controller.loop import contexts, locks, reconciling, recovery, repositories, routing
from truenorth.controller.runs import executing, runtime
from truenorth.core import assignments, states
from truenorth.store import errors as store_errors
from truenorth.store import locking, records

__all__ = ["Sharing", "take_over"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a graceful stop waits for the operations in flight before cancelling them.
STOP_GRACE = 60.0
#: Housekeeping (forget silent replicas, delete old answered requests) every this many ticks.
_HOUSEKEEPING_TICKS = 30
_REQUEST_RETENTION = 3600.0


@dataclass(frozen=True)
class _Seen:
    """One exchange with the database: who is alive, what this replica still holds."""

    live: frozenset[str]
    held: frozenset[str]
    leases: Mapping[str, records.LeaseRecord]
    now: datetime


class Sharing:
    """The repositories this replica works on, and the reconcile loops it runs for them."""

    def __init__(
        self,
        ctx: contexts.Context,
        repos: Mapping[str, repositories.RepositoryState],
        *,
        replica: str,
        lease: float,
        loops: dict[str, reconciling.RepositoryLoop],
        make_loop: Callable[[repositories.RepositoryState], reconciling.RepositoryLoop],
    ) -> None:
        self.ctx = ctx
        self.store = ctx.rt.store
        #: PostgreSQL: replicas share the work. SQLite: this controller holds everything.
        self.enabled = self.store.backend == "postgresql"
        self.replica = replica
        self.lease = lease
        self.address = ""
        self._repos = repos
        self._names = {repo.key: name for name, repo in repos.items()}
        self._loops = loops
        self._make_loop = make_loop
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Repositories whose lease this replica holds (names).
        self.held: set[str] = set()
        self._leaving: dict[str, asyncio.Task[None]] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="truenorth-sharing")
        self._connected_since: float | None = None
        self._renewed_at: float | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._ticks = 0
        self._stopping = False
        self.router = routing.Router(ctx, replica=replica, owned=self._owned_keys)
        #: Takeovers done, newest last (repository key, previous holder, runs interrupted).
        self.takeovers: list[tuple[str, str, tuple[int, ...]]] = []

    # ------------------------------------------------------------------ what the facade asks

    def owns(self, name: str) -> bool:
        """True when this replica works on repository ``name`` (always on SQLite)."""
        return not self.enabled or name in self.held

    def connected(self) -> bool:
        """False while the database has not answered this replica's last renewal."""
        return not self.enabled or self._connected_since is not None

    def stack_lock(self, key: locks.StackKey, *, wait: float) -> locking.StackLock:
        """The database lock of stack ``key``; ``StackBusy`` for a repository not held here."""
        name, stack = key
        if self.enabled and (self._stopping or name not in self.held or name in self._leaving):
            raise locking.StackBusy(
                f"stack {stack!r}: this controller does not hold repository {name!r} (another replica does)"
            )
        return self.store.stack_lock(self._repos[name].key, stack, wait=wait)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, handler: routing.Handler) -> None:
        """Start working: every loop on SQLite; on PostgreSQL, a first exchange, the ticks, the listener."""
        if not self.enabled:
            for name in self._repos:
                self._start_loop(name)
            return
        self.router.handler = handler
        await self._tick()
        self._ticker = asyncio.create_task(self._tick_forever(), name="truenorth-sharing")
        self.router.start()

    async def stop(self, *, grace: float = STOP_GRACE) -> None:
        """Graceful shutdown: take no new work, let the operations in flight finish (up to
        ``grace`` seconds), stop the loops and release every lease at once (``Store.leave``)."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        if self.enabled:
            await self.router.stop()
            self._stopping = True  # operations refuse to start (stack_lock)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet(set(self.held)), timeout=grace)
        # Hand-backs and wind-downs too: none may outlive the stop (and reach the executor
        # once it is shut down); each cancels the loop it was stopping.
        tasks = [*self._leaving.values(), *self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._leaving.clear()
        if self.enabled and self.held:
            try:
                released = await asyncio.wait_for(self._run(lambda: self.store.leave(self.replica)), 10.0)
                log.info("left the store: released %d leases", len(released))
            except (store_errors.StoreError, TimeoutError) as exc:
                log.warning("could not release the leases (they expire in %.0fs): %s", self.lease, exc)
            self.held.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ the ticks

    async def _tick_forever(self) -> None:
        interval = self.lease / 3
        while True:
            started = time.monotonic()
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sharing the work with the other replicas failed")
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - started)))

    async def _tick(self) -> None:
        began = time.monotonic()
        try:
            seen = await asyncio.wait_for(self._run(self._exchange), timeout=self.lease)
        except (store_errors.StoreError, TimeoutError) as exc:
            self._disconnected(str(exc) or "no answer within the lease time")
            return
        if self._connected_since is None:
            self._connected_since = began
            log.info("replica %s: in touch with the store", self.replica)
        self._renewed_at = began
        held = {self._names[key] for key in seen.held if key in self._names}
        for name in sorted(self.held - held):
            log.warning("replica %s: lost the lease of %s; stopping work on it", self.replica, name)
            self._lose(name)
        for name in sorted(held - self.held):
            if name not in self._leaving:  # renewed: it was ours all along (after an outage)
                self._gain(name, ())
        self._ticks += 1
        if self._ticks % _HOUSEKEEPING_TICKS == 0:
            await self._housekeeping()
        if self.ctx.recovered.is_set():
            await self._balance(seen, settled=began - self._connected_since >= self.lease)
        self.router.due()

    def _exchange(self) -> _Seen:
        """Blocking: heartbeat, renew, and read the live replicas and the leases (a thread)."""
        store, keys = self.store, sorted(self._names)
        store.heartbeat(self.replica, address=self.address)
        live = {found.id for found in store.live_replicas(within=self.lease)}
        held = store.renew_leases(replica=self.replica, seconds=self.lease, repositories=keys)
        leases = {found.repository: found for found in store.leases(repositories=keys)}
        return _Seen(
            live=frozenset(live | {self.replica}),
            held=frozenset(held),
            leases=leases,
            now=store.database_time(),
        )

    async def _balance(self, seen: _Seen, *, settled: bool) -> None:
        """Take the leases this replica should hold and may take; hand back the others."""
        plan = assignments.assign(replicas=seen.live, repositories=self._names)
        mine = {self._names[key] for key in plan.held_by(self.replica)}
        for name in sorted(mine - self.held - set(self._leaving)):
            key = self._repos[name].key
            found = seen.leases.get(key)
            holder = found.holder if found is not None else ""
            if holder and holder != self.replica:
                expired_for = (seen.now - found.expires_at).total_seconds() if found is not None else 0.0
                # A live holder renews or hands back by itself; a dead one's lease is taken
                # once expired, and only by a replica that is surely in touch (settled).
                if expired_for <= 0 or not settled or (holder in seen.live and expired_for < 2 * self.lease):
                    continue
            try:
                taken = await self._run(
                    functools.partial(self.store.take_lease, key, replica=self.replica, seconds=self.lease)
                )
            except store_errors.StoreError as exc:
                self._disconnected(str(exc))
                return
            if taken is None:
                continue
            interrupted: Sequence[recovery.Interrupted] = ()
            if holder and holder != self.replica:
                try:
                    interrupted = await self._run(
                        functools.partial(take_over, self.ctx.rt, holder=holder, repository=key)
                    )
                except store_errors.StoreError as exc:
                    # Holding the lease, not having ended the dead one's runs: hand it back.
                    log.warning("replica %s: takeover of %s failed: %s", self.replica, name, exc)
                    with contextlib.suppress(store_errors.StoreError):
                        await self._run(
                            functools.partial(
                                self.store.release_leases, replica=self.replica, repositories=[key]
                            )
                        )
                    continue
                run_ids = tuple(run for item in interrupted for run in item.run_ids)
                self.takeovers.append((key, holder, run_ids))
                log.warning(
                    "replica %s: took over %s from %s (its lease expired); interrupted runs %s, "
                    "planning %s again",
                    self.replica, name, holder, list(run_ids) or "none",
                    ", ".join(item.stack for item in interrupted) or "nothing",
                )  # fmt: skip
            else:
                log.info("replica %s: took the lease of %s", self.replica, name)
            self._gain(name, interrupted)
        for name in sorted(self.held - mine):
            if name not in self._leaving:
                self._leaving[name] = asyncio.create_task(
                    self._hand_back(name), name=f"truenorth-hand-back-{name}"
                )

    async def _housekeeping(self) -> None:
        with contextlib.suppress(store_errors.StoreError):
            await self._run(lambda: self.store.forget_replicas(silent_for=max(300.0, 10 * self.lease)))
            await self._run(lambda: self.store.prune_requests(older_than=_REQUEST_RETENTION))

    def _disconnected(self, reason: str) -> None:
        if self._connected_since is not None:
            log.error("replica %s: the store does not answer: %s", self.replica, self.ctx.redact(reason))
        self._connected_since = None
        if self._renewed_at is not None and time.monotonic() - self._renewed_at >= self.lease and self.held:
            log.error(
                "replica %s: no renewal for %.0fs: its leases have expired; stopping work on %s",
                self.replica, self.lease, ", ".join(sorted(self.held)),
            )  # fmt: skip
            for name in sorted(self.held):
                self._lose(name)

    # ------------------------------------------------------------------ loops

    def _gain(self, name: str, interrupted: Sequence[recovery.Interrupted]) -> None:
        """Hold ``name``: a fresh state (as after a restart), the interrupted stacks to plan, its loop."""
        repo = self._repos[name]
        _reset(repo, retry=self.ctx.settings.retry)
        for item in interrupted:
            repo.track(item.stack).demand(None, because=("interrupted",))
        self.held.add(name)
        self._start_loop(name)
        self.ctx.activity.changed()

    def _lose(self, name: str) -> None:
        """Stop working on ``name`` now (lease gone): no new operation, the running one finishes."""
        self.held.discard(name)
        if name not in self._leaving:
            self._leaving[name] = asyncio.create_task(self._wind_down(name), name=f"truenorth-lose-{name}")

    async def _hand_back(self, name: str) -> None:
        """Stop the loop once no operation of ``name`` runs, then release its lease."""
        try:
            await self._stop_loop(name)
            key = self._repos[name].key
            try:
                await self._run(lambda: self.store.release_leases(replica=self.replica, repositories=[key]))
                log.info("replica %s: handed back the lease of %s", self.replica, name)
            except store_errors.StoreError as exc:
                log.warning("replica %s: could not hand back %s (it expires): %s", self.replica, name, exc)
            self.held.discard(name)
            _reset(self._repos[name], retry=self.ctx.settings.retry)
        finally:
            self._leaving.pop(name, None)
            self.ctx.activity.changed()

    async def _wind_down(self, name: str) -> None:
        try:
            await self._stop_loop(name)
            if name not in self.held:
                _reset(self._repos[name], retry=self.ctx.settings.retry)
        finally:
            self._leaving.pop(name, None)
            self.ctx.activity.changed()

    def _start_loop(self, name: str) -> None:
        old = self._tasks.get(name)
        if old is not None and not old.done():
            return
        loop = self._loops[name] = self._make_loop(self._repos[name])
        self._tasks[name] = asyncio.create_task(loop.run(), name=f"truenorth-reconcile-{name}")

    async def _stop_loop(self, name: str) -> None:
        """Cancel ``name``'s loop at a moment no operation of it holds a stack (never mid-apply)."""
        await self._quiet({name})
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _quiet(self, names: set[str]) -> None:
        """Return once no stack of ``names`` is locked in this process (operations refuse to
        start meanwhile: :meth:`stack_lock`)."""
        while any(key[0] in names for key in self.ctx.locks.held()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ctx.activity.next_change(), timeout=0.5)

    def running(self, name: str) -> bool:
        """True while ``name``'s reconcile loop runs here."""
        task = self._tasks.get(name)
        return task is not None and not task.done()

    # ------------------------------------------------------------------ plumbing

    def _owned_keys(self) -> list[str]:
        return [self._repos[name].key for name in sorted(self.held) if name not in self._leaving]

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


def _reset(repo: repositories.RepositoryState, *, retry: Any) -> None:
    """Forget what this process knew of ``repo`` (another replica may have moved it on):
    its next pass starts as after a restart. The fetch lock, shared by entries of one URL, stays."""
    fresh = repositories.RepositoryState.of(repo.config, retry=retry)
    for item in dataclasses.fields(fresh):
        if item.name != "fetching":
            setattr(repo, item.name, getattr(fresh, item.name))


def take_over(rt: runtime.Runtime, *, holder: str, repository: str) -> list[recovery.Interrupted]:
    """Blocking: end the runs ``holder`` (whose lease expired) left in flight in ``repository``,
    fail the requests it had taken, put its ``applying`` stacks back to ``unknown``; return the
    stacks to plan again. Nobody else's runs, no other repository."""
    store = rt.store
    marked = store.mark_interrupted(holder=holder, repository=repository)
    store.abandon_requests(holder=holder, repository=repository)
    found: dict[str, list[int]] = {}
    for run_id in marked:
        run = store.get_run(run_id)
        if run is not None and run.stack != executing.REPOSITORY_STACK:
            found.setdefault(run.stack, []).append(run_id)
    for record in store.list_stacks(repository=repository):
        if states.SyncState.parse(record.sync_state) is states.SyncState.APPLYING:
            found.setdefault(record.name, [])
    result = []
    for stack, run_ids in sorted(found.items()):
        current = store.get_stack(repository=repository, name=stack)
        which = f"run {', '.join(map(str, run_ids))}" if run_ids else "an apply"
        transition = (
            states.after_interrupted(states.SyncState.parse(current.sync_state), what=which)
            if current is not None
            else None
        )
        if transition is not None:
            store.upsert_stack(repository=repository, name=stack, **transition.fields())
        result.append(recovery.Interrupted(repository=repository, stack=stack, run_ids=tuple(run_ids)))
    return result
