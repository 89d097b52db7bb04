"""The controller's facade: what ``truenorth serve`` (API, webhooks, metrics) drives.

One :class:`Controller` per process. It opens the runtime (store, engines, mirror
cache) from a :class:`~truenorth.config.ControllerConfig`, recovers from a
previous crash at :meth:`Controller.start`, runs one reconcile loop per repository
(:mod:`.reconciling`), and answers the API: views of repositories and stacks, and the
actions refresh, sync, approve and rollback. Actions take the stack's lock at once or
fail with ``ControllerError(conflict, "another operation is already in progress")``,
and return the id of the first run they record as soon as that run exists; the work
goes on in the background.

The views and :meth:`Controller.current_plan` read the store synchronously (fast
queries); everything that may block for long (git, engines) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import prometheus_client

from truenorth import config as settings
from truenorth.controller import errors as controller_errors
from truenorth.controller.actions import launching
from truenorth.controller.actions.views import RepositoryView, StackView
from truenorth.controller.errors import ControllerError
from truenorth.controller.loop import (
    clocks,
    contexts,
    locks,
    metrics,
    operating,
    reconciling,
    recovery,
    workers,
)
from truenorth.controller.loop import repositories as repository_states
from truenorth.controller.runs import registry as engine_registry
from truenorth.controller.runs import runtime, secrets
from truenorth.core import redaction, specs
from truenorth.git import errors as git_errors
from truenorth.git import urls
from truenorth.store import database, records
from truenorth.store import errors as store_errors

__all__ = ["Controller", "ControllerError", "RepositoryView", "StackView"]

log = logging.getLogger(__name__)

_HEALTH = {"unknown": "Unknown"}
_MAX_HISTORY = 1000


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
        )
        self._repos = repository_states.states_of(config.repositories, retry=config.retry)
        self._match_keys = {name: _normalized(state.config.url) for name, state in self._repos.items()}
        self.loops = {
            name: reconciling.RepositoryLoop(self.context, state, others=self._repos.values)
            for name, state in self._repos.items()
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._actions: set[asyncio.Task[Any]] = set()
        self._started = False
        self.metrics.watch_stacks(self._stack_states)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Recover from a previous crash, then start one reconcile loop per repository."""
        if self._started:
            return
        self._started = True
        await self._recover_once()
        if not self.context.recovered.is_set():
            self._tasks.append(asyncio.create_task(self._recover_until_done(), name="truenorth-recovery"))
        for name, loop in self.loops.items():
            self._tasks.append(asyncio.create_task(loop.run(), name=f"truenorth-reconcile-{name}"))

    async def stop(self) -> None:
        """Cancel the loops and actions, wait for running engine operations to notice, close the store."""
        tasks = [*self._tasks, *self._actions]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self.context.engine_pool.close()
        self.context.io_pool.close(wait=False)
        self.runtime.close()

    def is_ready(self) -> bool:
        """Store reachable, recovery done and every repository checked at least once."""
        return (
            self._started
            and self.context.recovered.is_set()
            and not self.context.store_health.failing
            and all(repo.checked for repo in self._repos.values())
        )

    async def wait_idle(self) -> None:
        """Return once every loop waits with nothing due and no action runs (tests, shutdown)."""
        await self.context.activity.wait_until(self._idle)

    def _idle(self) -> bool:
        return (
            self.context.recovered.is_set()
            and self.context.activity.actions == 0
            and all(loop.parked() for loop in self.loops.values())
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

    def push_received(self, *, repository_urls: Sequence[str], ref: str) -> list[str]:
        """Reconcile at once every tracked repository that one of the URLs names on branch ``ref``.

        ``ref`` is ``refs/heads/<branch>`` or a bare branch name. Returns the names of
        the repositories woken (empty: nothing matched). Many pushes before a pass
        starts wake it once: one fetch.
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
                repo.wake_up()
                matched.append(name)
        if matched:
            log.info("push to %s: reconciling %s", branch, ", ".join(matched))
        return matched

    # ------------------------------------------------------------------ views

    def repositories(self) -> list[RepositoryView]:
        """Every tracked repository, in configuration order."""
        return [
            RepositoryView(
                name=repo.name,
                url=repo.display,
                branch=repo.config.branch,
                revision=repo.desired_sha,
                source_error=repo.source_error or repo.revision_error,
                last_fetch_at=repo.last_fetch_at,
                last_check_at=repo.last_check_at,
                valid_revision=repo.revision.sha if repo.revision else None,
                store_key=repo.key,
            )
            for repo in self._repos.values()
        ]

    def stacks(self) -> list[StackView]:
        """Every stack of every repository (declared in its newest valid revision, else as stored)."""
        views: list[StackView] = []
        for repo in self._repos.values():
            stored = {record.name: record for record in self.store.list_stacks(repository=repo.key)}
            names = list(repo.spec.names) if repo.spec is not None else sorted(stored)
            views.extend(self._view(repo, name=name, record=stored.get(name)) for name in names)
        return views

    def stack(self, name: str, *, repository: str | None = None) -> StackView:
        """One stack; ``repository`` (a configured name) is needed only when several declare it."""
        repo = self._locate(name, repository)
        return self._view(repo, name=name, record=self.store.get_stack(repository=repo.key, name=name))

    def current_plan(self, name: str, *, repository: str | None = None) -> records.RunRecord | None:
        """The plan waiting for approval, else the stack's newest plan run (None: never planned)."""
        repo = self._locate(name, repository)
        record = self.store.get_stack(repository=repo.key, name=name)
        if record is not None and record.pending_plan_id is not None:
            found = self.store.get_run(record.pending_plan_id)
            if found is not None:
                return found
        return self.store.last_run(repository=repo.key, stack=name, kind="plan")

    def _view(
        self, repo: repository_states.RepositoryState, *, name: str, record: records.StackRecord | None
    ) -> StackView:
        declared = _declared(repo, name)
        last = None
        if record is not None and record.last_run_id is not None:
            run = self.store.get_run(record.last_run_id)
            if run is not None:
                last = {
                    "id": run.id,
                    "kind": run.kind,
                    "status": run.status,
                    "started_at": run.started_at.isoformat(),
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                }
        applied = record.applied_revision if record else None
        # Read-only: this runs in the API's threads, next to the event loop that owns the
        # tracks and the commit cache (``get``, never ``repo.track()``, which creates one).
        track = repo.tracks.get(name)
        commit = self.context.commits.get(applied) if applied else None
        return StackView(
            repository=repo.name,
            name=name,
            engine=declared.engine if declared else (record.engine if record else ""),
            sync_state=record.sync_state if record else "unknown",
            health=_HEALTH.get(record.health, record.health) if record else "Unknown",
            drift=track.drift if track is not None else False,
            auto_apply=declared.auto_apply if declared else False,
            self_heal=declared.self_heal if declared else False,
            depends_on=declared.depends_on if declared else (),
            applied_revision=applied,
            applied_commit=dict(commit) if commit is not None else None,
            desired_revision=repo.desired_sha,
            last_run=last,
            pending_plan_run_id=record.pending_plan_id if record else None,
            error=self._stack_error(record),
            busy=self.context.locks.busy((repo.name, name)),
            applied_at=record.applied_at if record else None,
            source_error=repo.source_error or repo.revision_error,
        )

    def _stack_error(self, record: records.StackRecord | None) -> str | None:
        """The stack's recorded error; while the store refuses writes, that first (nothing is recorded)."""
        recorded = (record.error or None) if record else None
        health = self.context.store_health
        if not health.failing:
            return recorded
        failing = (
            f"the state database is failing ({health.error}): nothing is planned, applied or recorded "
            "until it works again; the state shown is the last one recorded"
        )
        return f"{failing}. Last recorded error: {recorded}" if recorded else failing

    def _locate(self, name: str, repository: str | None) -> repository_states.RepositoryState:
        if repository is not None:
            repo = self._repos.get(repository)
            if repo is None:
                raise ControllerError(controller_errors.NOT_FOUND, f"no repository named {repository!r}")
            candidates = [repo]
        else:
            candidates = list(self._repos.values())
        found = [repo for repo in candidates if self._knows(repo, name)]
        if not found:
            where = f" in repository {repository!r}" if repository else ""
            raise ControllerError(controller_errors.NOT_FOUND, f"no stack named {name!r}{where}")
        if len(found) > 1:
            raise ControllerError(
                controller_errors.INVALID,
                f"stack {name!r} exists in several repositories ({', '.join(r.name for r in found)}): "
                "name the repository",
            )
        return found[0]

    def _knows(self, repo: repository_states.RepositoryState, name: str) -> bool:
        if repo.spec is not None:
            return name in repo.spec.names
        return self.store.get_stack(repository=repo.key, name=name) is not None

    def _stack_states(self) -> Iterable[tuple[str, str]]:
        return [(view.sync_state, view.health) for view in self.stacks()]

    # ------------------------------------------------------------------ actions

    async def refresh(self, name: str, *, repository: str | None = None, actor: str) -> int:
        """Plan the stack now at the newest valid revision (and apply it when ``auto_apply``)."""
        repo, stack = self._declared_stack(name, repository)
        revision, spec = repo.revision, repo.spec
        assert revision is not None and spec is not None
        graph = {item.name: item.depends_on for item in spec.stacks}
        lease = self._lease(repo, name, purpose=f"refresh by {actor}")

        async def work(on_start: operating.RunStarted) -> operating.Step:
            stored = await self.context.io(lambda: self.store.list_stacks(repository=repo.key))
            applied = {record.name: record.applied_revision for record in stored}
            # The loop's rule: never plan (and apply) a stack while a dependency failed or
            # still needs work; a refresh is refused with the reason instead.
            gate = operating.dependency_gate(
                repo,
                upstream=operating.upstream(graph, name),
                failed_states=frozenset(record.name for record in stored if record.sync_state == "failed"),
            )
            if gate.failed:
                raise ControllerError(
                    controller_errors.CONFLICT,
                    f"stack {name!r} is not refreshed: its dependency {', '.join(gate.failed)} failed; "
                    "fix that first (or refresh it)",
                )
            if gate.waiting:
                raise ControllerError(
                    controller_errors.CONFLICT,
                    f"stack {name!r} is not refreshed: its dependency {', '.join(gate.waiting)} is not "
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

    async def sync(self, name: str, *, repository: str | None = None, actor: str) -> int:
        """Apply the stored plan of the stack (conflict when there is none or an operation runs)."""
        return await self._apply_stored(name, repository=repository, actor=actor, approval=False)

    async def approve(self, name: str, *, repository: str | None = None, actor: str) -> int:
        """Apply the plan a ``pending-approval`` stack waits with."""
        return await self._apply_stored(name, repository=repository, actor=actor, approval=True)

    async def rollback(
        self, name: str, *, revision: str, repository: str | None = None, actor: str, reason: str
    ) -> int:
        """Plan and apply the stack at an earlier revision it was applied at; records actor and reason.

        Refused (conflict) for ``auto_apply`` stacks, which would go forward again at once
        (Argo CD refuses rollback while automated sync is on for the same reason).
        """
        repo, stack = self._declared_stack(name, repository)
        if not reason or not reason.strip():
            raise ControllerError(controller_errors.INVALID, "a rollback needs a reason")
        if stack.auto_apply:
            raise ControllerError(
                controller_errors.CONFLICT,
                f"rollback of stack {name!r} is refused while auto_apply is on (it would be applied forward "
                "again at once); set auto_apply: false for it first",
            )
        deployed = self.store.list_runs(
            stack=name,
            repository=repo.key,
            kind="apply",
            status=records.DEPLOYED_STATUSES,
            limit=_MAX_HISTORY,
        )
        sha = _match_revision(revision, [run.revision for run in deployed])
        if sha is None:
            raise ControllerError(
                controller_errors.INVALID,
                f"revision {revision[:40]!r} was never applied to stack {name!r}; roll back to one of its "
                "applied revisions",
            )
        lease = self._lease(repo, name, purpose=f"rollback by {actor}")

        async def work(on_start: operating.RunStarted) -> operating.Step:
            return await operating.rollback(
                self.context, repo, name=name, sha=sha, actor=actor, reason=reason.strip(), on_start=on_start
            )

        return await self._launch(repo, lease=lease, work=work)

    async def _apply_stored(self, name: str, *, repository: str | None, actor: str, approval: bool) -> int:
        repo, _ = self._declared_stack(name, repository)
        record = self.store.get_stack(repository=repo.key, name=name)
        if approval and (record is None or record.sync_state != "pending-approval"):
            state = record.sync_state if record else "unknown"
            raise ControllerError(
                controller_errors.CONFLICT, f"stack {name!r} is not waiting for approval (it is {state})"
            )
        if record is None or record.pending_plan_id is None:
            raise ControllerError(
                controller_errors.CONFLICT, f"stack {name!r} has no stored plan to apply; refresh it first"
            )
        run = self.store.get_run(record.pending_plan_id)
        if (
            run is None
            or run.kind != "plan"
            or run.status != "succeeded"
            or not run.summary.get("has_changes", False)
        ):
            raise ControllerError(
                controller_errors.CONFLICT, f"the stored plan of stack {name!r} cannot be applied; refresh it"
            )
        lease = self._lease(repo, name, purpose=f"{'approval' if approval else 'sync'} by {actor}")

        async def work(on_start: operating.RunStarted) -> operating.Step:
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

    def _lease(self, repo: repository_states.RepositoryState, name: str, *, purpose: str) -> locks.Lease:
        lease = self.context.locks.try_acquire((repo.name, name), purpose=purpose)
        if lease is None:
            raise ControllerError(controller_errors.CONFLICT, controller_errors.BUSY)
        return lease

    async def _launch(
        self,
        repo: repository_states.RepositoryState,
        *,
        lease: locks.Lease,
        work: Callable[[operating.RunStarted], Awaitable[operating.Step]],
    ) -> int:
        return await launching.launch(
            self.context, lease=lease, work=work, tasks=self._actions, after=lambda: repo.wake_up(check=False)
        )


def _declared(repo: repository_states.RepositoryState, name: str) -> specs.StackSpec | None:
    if repo.spec is None or name not in repo.spec.names:
        return None
    return repo.spec.stack(name)


def _normalized(url: str) -> str | None:
    try:
        return urls.normalize(url)
    except git_errors.GitError:
        return None


def _match_revision(wanted: str, candidates: Sequence[str]) -> str | None:
    """The one candidate equal to ``wanted`` or starting with it (at least 7 hex digits)."""
    wanted = wanted.strip().lower()
    if wanted in candidates:
        return wanted
    if len(wanted) < 7 or any(c not in "0123456789abcdef" for c in wanted):
        return None
    found = {sha for sha in candidates if sha.startswith(wanted)}
    return found.pop() if len(found) == 1 else None


def _cluster_lookup(
    clusters: Mapping[str, settings.ClusterConfig],
) -> Callable[[specs.StackSpec], Mapping[str, str]]:
    def lookup(stack: specs.StackSpec) -> Mapping[str, str]:
        target = stack.options.target if isinstance(stack.options, specs.KubernetesOptions) else None
        if target is not None and target in clusters:
            return clusters[target].settings()
        return {}

    return lookup
