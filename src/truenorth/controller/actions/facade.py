"""The controller's facade: what ``truenorth serve`` (API, webhooks, metrics) drives.

One :class:`Controller` per process. It opens the runtime (store, engines, mirror
cache) from a :class:`~truenorth.config.ControllerConfig`, recovers from a
previous crash at :meth:`Controller.start`, runs one reconcile loop per repository
(:mod:`.reconciling`), and answers the API: views of repositories and stacks, and the
actions refresh, sync, approve and rollback. Actions take the stack's lock at once or
fail with ``ControllerError(conflict, "another operation is already in progress")``,
and return the id of the first run they record as soon as that run exists; the work
goes on in the background.

The views (repositories, pages of stacks, runs, logs) are answered by
:class:`.reading.Reader`, synchronously and sized to a page: the API calls them from its
thread pool. Everything that may block for long (git, engines) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import prometheus_client

from truenorth import config as settings
from truenorth.controller import errors as controller_errors
from truenorth.controller.actions import launching, reading, views
from truenorth.controller.actions.views import RepositoryView, StackView
from truenorth.controller.errors import ControllerError
from truenorth.controller.loop import (
    clocks,
    contexts,
    locks,
    metrics,
    notifying,
    operating,
    previewing,
    reconciling,
    recovery,
    sharing,
    workers,
)
from truenorth.controller.loop import repositories as repository_states
from truenorth.controller.runs import guarding, ownership, runtime, secrets
from truenorth.controller.runs import registry as engine_registry
from truenorth.core import ids, redaction, specs, states, walks
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.terraform import pgstate
from truenorth.forges import hooks
from truenorth.git import errors as git_errors
from truenorth.git import urls
from truenorth.notify import delivering
from truenorth.store import database
from truenorth.store import errors as store_errors
from truenorth.store import records as store_records

__all__ = ["Controller", "ControllerError", "RepositoryView", "StackView"]

log = logging.getLogger(__name__)


class Controller:
    """Reconciles every configured repository; answers the API's questions and actions."""

    registry: prometheus_client.CollectorRegistry
    store: database.Store

    def __init__(
        self,
        config: settings.ControllerConfig,
        *,
        clock: clocks.Clock | None = None,
        engines: engine_registry.EngineRegistry | None = None,
    ) -> None:
        self.config = config
        self.clock: clocks.Clock = clock or clocks.SystemClock()
        self.metrics = metrics.Metrics()
        self.registry = self.metrics.registry
        self.runtime = runtime.open_runtime(
            config.data_dir,
            store_url=config.store_url,
            engines=engines,
            secret_resolver=secrets.SecretResolver(files=config.secret_files, envs=config.secret_envs),
            clusters=_cluster_lookup(config.clusters),
            timeout=config.operation_timeout,
            sandbox=_sandbox_lookup(config),
            limits=config.limits,
        )
        #: Names this process in the runs it records (``<data dir instance>/<host>:<pid>``).
        self.holder = self.runtime.holder or ""
        self.store = self.runtime.store
        activity = contexts.Activity()

        def queue_depth(depth: int) -> None:
            self.metrics.queue_depth.set(depth)
            activity.changed()

        self.context = contexts.Context(
            rt=self.runtime,
            settings=config,
            clock=self.clock,
            metrics=self.metrics,
            activity=activity,
            engine_pool=workers.WorkerPool(config.workers, name="engine", on_depth=queue_depth),
            io_pool=workers.WorkerPool(len(config.repositories) + 4, name="io"),
            locks=locks.StackLocks(),
            redactor=redaction.Redactor(config.secret_values()),
            operation_slots=asyncio.Semaphore(config.workers),
        )
        _announce_sandbox(config.sandbox)
        self._repos = repository_states.states_of(config.repositories, retry=config.retry)
        self.context.notifications = notifying.Notifications(
            delivering.Notifier(config.notifications, redactor=self.context.redactor),
            names={state.key: name for name, state in self._repos.items()},
            drifts=notifying.StoredDrifts(self.store, self.context.io),
        )
        self._match_keys = {name: _normalized(state.config.url) for name, state in self._repos.items()}
        self.loops = {
            name: reconciling.RepositoryLoop(self.context, state, others=self._repos.values)
            for name, state in self._repos.items()
        }
        #: Which repositories this replica works on (all of them on SQLite), webhooks and
        #: actions routed to the owner, the database locks of stacks (PostgreSQL).
        self.sharing = sharing.Sharing(
            self.context,
            self._repos,
            replica=self.holder,
            lease=config.lease_seconds,
            loops=self.loops,
            make_loop=self._make_loop,
        )
        if self.sharing.enabled:
            self.context.locks.database = self.sharing.stack_lock
            # Terraform state of stacks without a backend: in PostgreSQL, reachable by every replica.
            state_url = config.terraform_state_url or config.store_url
            self.runtime.shared_state_url = pgstate.libpq_url(state_url) if state_url else None
        self.previews = previewing.Previews(
            self.context, self._repos, idle=lambda name: self.loops[name].parked(), owns=self.sharing.owns
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._actions: set[asyncio.Task[Any]] = set()
        self._started = False
        self.reading = reading.Reader(self.context, self._repos, owns=self.sharing.owns)
        self.metrics.watch_stacks(self._stack_states)

    def _make_loop(self, state: repository_states.RepositoryState) -> reconciling.RepositoryLoop:
        """A repository's reconcile loop, started here (a start, a lease taken): the reports of
        its merges still due are written too (:meth:`previewing.Previews.resume`)."""
        self.previews.resume(state.name)
        return reconciling.RepositoryLoop(self.context, state, others=self._repos.values)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Recover from a previous crash, then start one reconcile loop per repository."""
        if self._started:
            return
        self._started = True
        await self._recover_once()
        if not self.context.recovered.is_set():
            self._tasks.append(asyncio.create_task(self._recover_until_done(), name="truenorth-recovery"))
        await self.sharing.start(handler=self._answer_request)

    async def stop(self) -> None:
        """Cancel the loops and actions, wait for running engine operations to notice, close the store."""
        await self.sharing.stop()  # replicas: finish what runs, release the leases at once
        tasks = [*self._tasks, *self._actions]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self.context.engine_pool.close()
        self.context.io_pool.close(wait=False)
        await self.previews.close()
        await self.context.notifications.close()
        self.runtime.close()

    def sandbox_status(self) -> dict[str, str]:
        """Whether engine programs run sandboxed (``/readyz`` details): mode, bubblewrap, why not."""
        return _sandbox_status(self.config.sandbox)

    def is_ready(self) -> bool:
        """Store reachable, recovery done and every repository checked at least once."""
        return (
            self._started
            and self.context.recovered.is_set()
            and not self.context.store_health.failing
            and self.sharing.connected()
            and all(repo.checked for name, repo in self._repos.items() if self.sharing.owns(name))
            and self._store_answers()
        )

    def _store_answers(self) -> bool:
        try:
            self.store.ping()
        except store_errors.StoreError:
            return False
        return True

    async def wait_idle(self) -> None:
        """Return once every loop waits with nothing due and no action runs (tests, shutdown)."""
        await self.context.activity.wait_until(self._idle)

    def _idle(self) -> bool:
        return (
            self.context.recovered.is_set()
            and self.context.activity.actions == 0
            and all(loop.parked() for name, loop in self.loops.items() if self.sharing.running(name))
        )

    async def _recover_once(self) -> None:
        ctx = self.context
        try:
            found = await ctx.io(lambda: recovery.recover(self.runtime, wait=self.config.operation_timeout))
        except store_errors.StoreError as exc:
            ctx.store_health.failed(ctx.redact(str(exc)))
            ctx.metrics.store_errors.inc()
            return
        by_key = {repo.key: repo for repo in self._repos.values()}
        for item in found:
            repo = by_key.get(item.repository)
            if repo is not None:
                repo.track(item.stack).demand(None, because=("interrupted",))
        ctx.store_health.ok()
        ctx.recovered.set()

    async def _recover_until_done(self) -> None:
        backoff = settings.RetryConfig(self.config.retry.initial, self.config.retry.maximum)
        attempt = 0
        while not self.context.recovered.is_set():
            attempt += 1
            await self.clock.sleep(backoff.delay(attempt))
            await self._recover_once()

    # ------------------------------------------------------------------ webhooks

    def push_received(self, *, repository_urls: Sequence[str], ref: str, sha: str | None = None) -> list[str]:
        """Reconcile at once every tracked repository that one of the URLs names on branch ``ref``.

        ``ref`` is ``refs/heads/<branch>`` or a bare branch name; ``sha``, when the push
        names it, the commit the branch moved to: a repository whose mirror already has
        the branch there does not ask the remote (see :meth:`RepositoryState.wake_up`).
        Returns the names of the repositories woken (empty: nothing matched). Many
        pushes before a pass starts wake it once: one fetch.
        """
        if ref.startswith("refs/heads/"):
            branch: str | None = ref.removeprefix("refs/heads/")
        elif ref.startswith("refs/"):
            branch = None  # tags and other refs never trigger
        else:
            branch = ref
        keys = {key for key in (_normalized(url) for url in repository_urls if isinstance(url, str)) if key}
        matched = []
        for name, repo in self._repos.items():
            if self._match_keys[name] in keys and repo.config.branch == branch:
                if self.sharing.owns(name):
                    repo.wake_up(pushed=sha)
                else:  # another replica works on it: through the database, at once
                    self._forward_push(repo, sha)
                matched.append(name)
        if matched:
            log.info("push to %s: reconciling %s", branch, ", ".join(matched))
        return matched

    async def merge_request_received(
        self, event: hooks.MergeRequestEvent | hooks.PlanCommand, *, delivery: str | None = None
    ) -> str:
        """A verified merge-request event or ``/truenorth plan`` comment: preview, report; what was done.

        With replicas, each repository it concerns is previewed by that repository's owner:
        here at once, or through the database (:meth:`_route_merge_request`); ``delivery``
        (the forge's delivery id) is acted on once per repository whichever replica it
        reaches. ``ControllerError``: ``invalid`` (the event cannot travel), ``unavailable``
        (the store cannot record it).
        """
        if not self.sharing.enabled:
            return await self.previews.received(event)
        names = self.previews.candidates(event)
        if not names:
            return previewing.UNTRACKED
        try:
            arguments = previewing.routed(event)
        except previewing.RoutingError as exc:
            raise ControllerError(controller_errors.INVALID, str(exc)) from None
        dedup = f"{event.forge}:{delivery}" if delivery else None
        done = [
            await self._route_merge_request(name, event, arguments=arguments, dedup=dedup) for name in names
        ]
        return "; ".join(done)

    async def _route_merge_request(
        self,
        name: str,
        event: hooks.MergeRequestEvent | hooks.PlanCommand,
        *,
        arguments: Mapping[str, Any],
        dedup: str | None,
    ) -> str:
        """One repository's part of a merge-request event (replicas): recorded, then acted on
        here by its owner (the record taken at once), or left for the owner to take."""
        key, router = self._repos[name].key, self.sharing.router
        action, mine = "merge-request", self.sharing.owns(name)
        with controller_errors.store_unavailable():
            record = router.note if mine else router.tell
            request_id = await record(repository=key, action=action, arguments=arguments, dedup=dedup)
        if request_id is None:
            return f"ignored: delivery already received for {name}"
        if not mine:
            log.info("merge request %d of %s sent to its owner (request %d)", event.number, name, request_id)
            return f"sent to the controller replica that owns {name}"
        done = await self.previews.received(event, among=(name,), order=request_id)
        await router.noted(request_id, {"result": done})
        return done

    # ------------------------------------------------------------------ views

    def notification_deliveries(self) -> list[dict[str, Any]]:
        """The recent notification deliveries, newest first (no URL, no secret)."""
        notifier = self.context.notifications.notifier
        return [record.to_dict() for record in notifier.records()] if notifier is not None else []

    async def changed(self) -> None:
        """Return at the next change of the controller's state (the server's event streams wait here)."""
        await self.context.activity.next_change()

    def state_counts(self) -> reading.StateCounts:
        """How many stacks are in each (sync state, health): one short store query."""
        return self.reading.state_counts()

    def repositories(self) -> list[RepositoryView]:
        """Every tracked repository, in configuration order."""
        return self.reading.repositories()

    def stack_page(self, query: views.StackQuery) -> views.StackPage:
        """One page of the stacks ``query`` filters, with their total and source errors."""
        return self.reading.stack_page(query)

    def stacks(self) -> list[StackView]:
        """Every stack of every repository (declared in its newest valid revision, else as stored)."""
        return self.reading.stacks()

    def stack(self, name: str, *, repository: str | None = None) -> StackView:
        """One stack; ``repository`` (a configured name) is needed only when several declare it."""
        return self.reading.stack(name, repository=repository)

    def stack_outputs(self, name: str, *, repository: str | None = None) -> views.OutputsView:
        """The stack's recorded outputs, sensitive values masked."""
        return self.reading.stack_outputs(name, repository=repository)

    def current_plan(self, name: str, *, repository: str | None = None) -> views.RunDetail | None:
        """The plan waiting for approval, else the stack's newest plan run (None: never planned)."""
        return self.reading.current_plan(name, repository=repository)

    def stack_runs(
        self, name: str, *, repository: str | None = None, offset: int = 0, limit: int = 50
    ) -> views.RunPage:
        """The stack's runs, newest first."""
        return self.reading.stack_runs(name, repository=repository, offset=offset, limit=limit)

    def runs(self, query: views.RunQuery) -> views.RunPage:
        """Every run, newest first, filtered by ``query``."""
        return self.reading.runs(query)

    def run(self, run_id: ids.RunId) -> views.RunDetail | None:
        """One run in full (None: no such run)."""
        return self.reading.run(run_id)

    def run_log(self, run_id: ids.RunId, *, after: int = 0, limit: int = 1000) -> views.LogPage | None:
        """A page of the run's log (None: no such run)."""
        return self.reading.run_log(run_id, after=after, limit=limit)

    def _locate(self, name: str, repository: str | None) -> repository_states.RepositoryState:
        return self.reading.locate(name, repository)

    def _stack_states(self) -> Mapping[tuple[str, str], int]:
        return {
            (sync_state.value, health.value): count
            for (sync_state, health), count in self.reading.state_counts().items()
        }

    # ------------------------------------------------------------------ actions

    async def refresh(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        """Plan the stack now at the newest valid revision (and apply it when ``auto_apply``)."""
        if (routed := await self._routed("refresh", name, repository, actor=actor)) is not None:
            return routed
        repo, stack = self._declared_stack(name, repository)
        revision, spec = repo.revision, repo.spec
        assert revision is not None and spec is not None
        lease = await self._lease(repo, name, purpose=f"refresh by {actor}")

        async def work(on_start: operating.RunStarted) -> operating.Step:
            stored = await self.context.io(lambda: self.store.list_stacks(repository=repo.key))
            applied = {record.name: record.applied_revision for record in stored}
            # The loop's walk: never plan (and apply) a stack while a dependency failed or
            # still needs work; a refresh is refused with the reason instead.
            failed = states.SyncState.FAILED
            step = operating.dependency_step(
                repo,
                order=spec.order(),
                name=name,
                failed_states=frozenset(
                    r.name for r in stored if states.SyncState.parse(r.sync_state) is failed
                ),
            )
            if isinstance(step, walks.Skip):
                raise ControllerError(
                    controller_errors.CONFLICT,
                    f"stack {name!r} is not refreshed: its dependency {', '.join(step.failed)} failed; "
                    "fix that first (or refresh it)",
                )
            if isinstance(step, walks.Wait):
                raise ControllerError(
                    controller_errors.CONFLICT,
                    f"stack {name!r} is not refreshed: its dependency {', '.join(step.waiting_for)} is not "
                    "converged yet; refresh it once that is done",
                )
            repo.track(name).demand(revision.sha, because=(f"refresh by {actor}",), fresh=True)
            return await operating.reconcile_stack(
                self.context,
                repo,
                stack=stack,
                revision=revision,
                applied=applied,
                actor=actor,
                on_start=on_start,
            )

        run_id = await self._launch(repo, lease=lease, work=work)
        repo.wake_up()
        return run_id

    async def sync(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        """Apply the stored plan of the stack (conflict when there is none or an operation runs)."""
        return await self._apply_stored(name, repository=repository, actor=actor, approval=False)

    async def approve(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        """Apply the plan a ``pending-approval`` stack waits with."""
        return await self._apply_stored(name, repository=repository, actor=actor, approval=True)

    async def rollback(
        self, name: str, *, revision: str, repository: str | None = None, actor: str, reason: str
    ) -> ids.RunId:
        """Plan and apply the stack at an earlier revision it was applied at; records actor and reason.

        RefusedError (conflict) for ``auto_apply`` stacks, which would go forward again at once
        (Argo CD refuses rollback while automated sync is on for the same reason).
        """
        arguments = {"revision": revision, "reason": reason}
        if (routed := await self._routed("rollback", name, repository, actor=actor, **arguments)) is not None:
            return routed
        repo, stack = self._declared_stack(name, repository)
        try:
            with controller_errors.store_unavailable():
                sha = await self.context.io(
                    lambda: guarding.rollback_target(
                        self.store,
                        repository=repo.key,
                        stack=name,
                        auto_apply=stack.auto_apply,
                        reason=reason,
                        wanted=revision,
                    )
                )
        except guarding.RefusedError as exc:
            raise operating.refused(exc.refusal) from None
        lease = await self._lease(repo, name, purpose=f"rollback by {actor}")

        async def work(on_start: operating.RunStarted) -> operating.Step:
            return await operating.rollback(
                self.context, repo, name=name, sha=sha, actor=actor, reason=reason.strip(), on_start=on_start
            )

        return await self._launch(repo, lease=lease, work=work)

    async def _apply_stored(
        self, name: str, *, repository: str | None, actor: str, approval: bool
    ) -> ids.RunId:
        action = "approve" if approval else "sync"
        if (routed := await self._routed(action, name, repository, actor=actor)) is not None:
            return routed
        repo, _ = self._declared_stack(name, repository)
        try:
            with controller_errors.store_unavailable():
                run = await self.context.io(
                    lambda: guarding.stored_plan(
                        self.store, repository=repo.key, stack=name, approval=approval
                    )
                )
        except guarding.RefusedError as exc:
            raise operating.refused(exc.refusal) from None
        # A plan made by another replica (another data dir) has its saved plan file on that
        # replica's disk: it is planned again here and applied only if it is the same plan.
        elsewhere = self.sharing.enabled and ownership.instance_of(run.holder) != ownership.instance_of(
            self.holder
        )
        lease = await self._lease(repo, name, purpose=f"{'approval' if approval else 'sync'} by {actor}")

        async def work(on_start: operating.RunStarted) -> operating.Step:
            if elsewhere:
                return await operating.apply_same_plan(
                    self.context, repo, name=name, run=run, actor=actor, approval=approval, on_start=on_start
                )
            return await operating.apply_stored_plan(
                self.context, repo, name=name, run=run, actor=actor, on_start=on_start
            )

        return await self._launch(repo, lease=lease, work=work)

    def _declared_stack(
        self, name: str, repository: str | None
    ) -> tuple[repository_states.RepositoryState, specs.StackSpec]:
        repo = self._locate(name, repository)
        declared = _declared(repo, name)
        if declared is None or repo.revision is None:
            raise ControllerError(
                controller_errors.UNAVAILABLE,
                f"repository {repo.name!r} has no valid revision declaring stack {name!r} yet",
            )
        if self.context.store_health.failing:
            raise ControllerError(
                controller_errors.UNAVAILABLE, "the store is failing; nothing can be recorded"
            )
        return repo, declared

    async def _lease(
        self, repo: repository_states.RepositoryState, name: str, *, purpose: str
    ) -> locks.Lease:
        with controller_errors.store_unavailable():
            lease = await self.context.locks.try_hold((repo.name, name), purpose=purpose)
        if lease is None:
            raise ControllerError(controller_errors.CONFLICT, controller_errors.BUSY)
        return lease

    # ------------------------------------------------------------------ replicas (PostgreSQL)

    async def _routed(
        self, action: str, name: str, repository: str | None, *, actor: str, **arguments: str
    ) -> ids.RunId | None:
        """The run id the owner answers when another replica works on the stack's repository;
        None when this one does (the action runs here)."""
        if not self.sharing.enabled:
            return None
        repo = self._locate(name, repository)
        if self.sharing.owns(repo.name):
            return None
        outcome = await self.sharing.router.ask(
            repository=repo.key,
            action=action,
            stack=name,
            actor=actor,
            arguments={"repository": repo.name, **arguments},
        )
        run_id = outcome.get("run_id")
        if not isinstance(run_id, int) or isinstance(run_id, bool):
            raise ControllerError(controller_errors.UNAVAILABLE, "the owning controller answered no run")
        return ids.RunId(run_id)

    async def _answer_request(self, request: store_records.RequestRecord) -> Mapping[str, Any]:
        """As the owner: do what another replica was asked (a webhook's fetch, an action)."""
        name = self._name_of(request.repository)
        if name is None or not self.sharing.owns(name):
            raise ControllerError(
                controller_errors.UNAVAILABLE, "the repository moved to another controller; try again"
            )
        arguments = request.arguments
        actor = request.actor or "unknown"
        if request.action == "fetch":
            sha = arguments.get("sha")
            self._repos[name].wake_up(pushed=sha if isinstance(sha, str) else None)
            return {}
        if request.action == "merge-request":
            try:
                event = previewing.from_routed(arguments)
            except previewing.RoutingError as exc:
                raise ControllerError(controller_errors.INVALID, str(exc)) from None
            return {"result": await self.previews.received(event, among=(name,), order=request.id)}
        if request.action == "refresh":
            run_id = await self.refresh(request.stack, repository=name, actor=actor)
        elif request.action in ("sync", "approve"):
            run_id = await self._apply_stored(
                request.stack, repository=name, actor=actor, approval=request.action == "approve"
            )
        elif request.action == "rollback":
            run_id = await self.rollback(
                request.stack,
                revision=str(arguments.get("revision", "")),
                repository=name,
                actor=actor,
                reason=str(arguments.get("reason", "")),
            )
        else:
            raise ControllerError(controller_errors.INVALID, f"unknown request {request.action!r}")
        return {"run_id": int(run_id)}

    def _name_of(self, key: str) -> str | None:
        """The configured name of the repository stored as ``key`` (None: not tracked here)."""
        return next((name for name, repo in self._repos.items() if repo.key == key), None)

    def _forward_push(self, repo: repository_states.RepositoryState, sha: str | None) -> None:
        """Record a webhook's push for the replica that owns ``repo`` (wakes it at once)."""

        async def forward() -> None:
            try:
                request_id = await self.sharing.router.tell(
                    repository=repo.key, action="fetch", arguments={"sha": sha} if sha else {}
                )
                log.info("push to %s forwarded to its owner (request %d)", repo.name, request_id)
            except store_errors.StoreError as exc:
                log.warning("push to %s not forwarded (its owner polls): %s", repo.name, exc)

        task = asyncio.create_task(forward(), name=f"truenorth-forward-{repo.name}")
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    async def _launch(
        self,
        repo: repository_states.RepositoryState,
        *,
        lease: locks.Lease,
        work: Callable[[operating.RunStarted], Awaitable[operating.Step]],
    ) -> ids.RunId:
        run_id = await launching.launch(
            self.context, lease=lease, work=work, tasks=self._actions, after=lambda: repo.wake_up(check=False)
        )
        return ids.RunId(run_id)


def _declared(repo: repository_states.RepositoryState, name: str) -> specs.StackSpec | None:
    if repo.spec is None or name not in repo.spec.names:
        return None
    return repo.spec.stack(name)


def _normalized(url: str) -> str | None:
    try:
        return urls.normalize(url)
    except git_errors.GitError:
        return None


def _sandbox_status(mode: sandboxing.Mode) -> dict[str, str]:
    support = sandboxing.probe() if mode is not sandboxing.Mode.OFF else None
    status = {"mode": mode.value}
    if support is None:
        status["engines"] = "unconfined (sandbox = off)"
    elif support.works:
        status["engines"] = "sandboxed (bubblewrap)"
    else:
        status["bubblewrap"] = support.reason
        status["engines"] = (
            "refused: sandbox is required and bubblewrap does not work here"
            if mode is sandboxing.Mode.REQUIRED
            else "UNCONFINED: auto fell back, bubblewrap does not work here"
        )
    return status


def _announce_sandbox(mode: sandboxing.Mode) -> None:
    """Say in the log, once at start, whether engine programs will run sandboxed."""
    status = _sandbox_status(mode)
    if mode is sandboxing.Mode.OFF:
        log.warning("sandbox = off: engine programs run repository code UNCONFINED")
    elif "bubblewrap" not in status:
        log.info("sandbox = %s: every engine program runs in bubblewrap", mode.value)
    elif mode is sandboxing.Mode.REQUIRED:
        log.error(
            "sandbox = required and bubblewrap does not work here (%s): every engine run will fail",
            status["bubblewrap"],
        )
    else:
        sandboxing.resolve_mode(mode)  # its warning, once: engine programs run UNCONFINED


def _sandbox_lookup(config: settings.ControllerConfig) -> Callable[[str], sandboxing.Policy]:
    """A repository's key -> its sandbox policy: its own allowances, the controller's mode."""
    policies: dict[str, sandboxing.Policy] = {}
    for repo in config.repositories:
        with contextlib.suppress(git_errors.GitError):
            key = urls.repository_key(urls.to_url(repo.url), repo.branch)
            policies[key] = dataclasses.replace(repo.sandbox, mode=config.sandbox)
    default = sandboxing.Policy(mode=config.sandbox)

    def lookup(key: str) -> sandboxing.Policy:
        return policies.get(key, default)

    return lookup


def _cluster_lookup(
    clusters: Mapping[str, settings.ClusterConfig],
) -> Callable[[specs.StackSpec], Mapping[str, str]]:
    def lookup(stack: specs.StackSpec) -> Mapping[str, str]:
        target = stack.options.target if isinstance(stack.options, specs.KubernetesOptions) else None
        if target is not None and target in clusters:
            return clusters[target].settings()
        return {}

    return lookup
