"""The reconcile loop of one repository: check the branch, fetch when it moved, converge.

One asyncio task per tracked repository. Each pass:

1. when due (start-up, every ``poll_interval``, a push webhook, an action): one cheap
   ``git ls-remote`` of the branch, and one fetch only when the remote SHA differs from
   the last one fetched. A burst of pushes sets one event, which a pass drains: it
   coalesces into one fetch. Git failures leave everything as it is, show as the
   repository's source error and back off (capped); the next success clears the error.
   While the source is in error nothing else happens: no plan, apply or self-heal.
2. a new revision is checked out and validated. An invalid one is recorded and shown,
   and nothing of it is planned; the last valid revision stays in force.
3. the stacks it impacts (:mod:`truenorth.core.impacts`) are planned in dependency
   order (a stack that reads another's outputs also when one of them changed, checked
   when its turn comes, so it sees what its upstream just applied), applied when ``auto_apply`` (:func:`.operating.reconcile_stack`), held for
   approval otherwise. The order is :class:`truenorth.core.walks.Walk`'s, the one the
   CLI's ``truenorth apply`` and a refresh follow too: a stack whose dependency was
   applied in this pass is planned after that apply; dependents of a failed stack are
   skipped and the skip recorded; dependents of one still waiting (a retry not due)
   wait. A failure, even a bug, in one stack's operation is that stack's: it is counted
   and retried, and the plans and applies of its siblings in flight finish and are
   recorded.
4. drift checks that are due run, for stacks no operation holds.

Then it sleeps until the next poll, retry or drift check, or until woken.

With replicas (PostgreSQL), the owner publishes what it knows of the repository for the
replicas that do not own it (``store/publications.py``: the valid revision and its
``truenorth.yaml``, the newest revision, source and revision errors, fetch and check
times, drifted stacks, commit details): once a new revision is loaded and after every
pass (an action's end wakes a pass too), and only when something in it changed. The
check time alone is published again at most every :data:`CHECK_REPUBLISH` seconds, so
an idle owner polling its branch writes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from truenorth import paths
from truenorth.controller import errors
from truenorth.controller.loop import contexts, operating, repositories
from truenorth.controller.runs import executing, resolving, sources
from truenorth.core import guards, impacts, specs, walks
from truenorth.git import errors as git_errors
from truenorth.store import errors as store_errors

__all__ = ["CHECK_REPUBLISH", "RepositoryLoop"]

log = logging.getLogger(__name__)

#: Seconds after which the owner publishes the time of its last check of the branch even
#: when nothing else changed (it checks every poll; publishing each would be a write per
#: repository per poll on an idle replica).
CHECK_REPUBLISH = 300.0


class RepositoryLoop:
    """Runs the passes of one repository until cancelled."""

    def __init__(
        self,
        ctx: contexts.Context,
        repo: repositories.RepositoryState,
        *,
        others: Callable[[], Iterable[repositories.RepositoryState]] = lambda: (),
    ) -> None:
        self.ctx = ctx
        self.repo = repo
        self._others = others
        #: While parked: the clock time the loop wakes at by itself (None: not parked).
        self.parked_until: float | None = None
        #: Stacks waiting for a dependency (they are due when it is).
        self._blocked: set[str] = set()
        #: The revisions the stacks were applied at, as the last pass read them.
        self._applied: dict[str, str | None] = {}
        #: What was published last (:meth:`_publish`), and the check time it carried.
        self._published: tuple[Any, ...] | None = None
        self._published_check: datetime | None = None
        #: The valid revision's ``truenorth.yaml`` text, read once per revision.
        self._spec_text: tuple[str, str | None] | None = None

    def parked(self) -> bool:
        """True while the loop waits with nothing due (for tests and quiet shutdown)."""
        return (
            self.parked_until is not None
            and not self.repo.wake.is_set()
            and self.ctx.clock.now() < self.parked_until
        )

    async def run(self) -> None:
        await self.ctx.recovered.wait()
        while True:
            self.repo.wake.clear()
            self.repo.busy = True
            self.ctx.activity.changed()
            started = time.perf_counter()
            try:
                await self.pass_once()
            except store_errors.StoreError as exc:
                self.ctx.store_health.failed(self.ctx.redact(str(exc)))
                self.ctx.metrics.store_errors.inc()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile pass of repository %s failed", self.repo.name)
            finally:
                self.repo.busy = False
            await self._publish()
            self.ctx.metrics.reconcile_duration.labels(repository=self.repo.name).observe(
                time.perf_counter() - started
            )
            await self._park(self._next_wake())

    async def _park(self, until: float) -> None:
        wake = asyncio.ensure_future(self.repo.wake.wait())
        timer = asyncio.ensure_future(self.ctx.clock.sleep(max(0.0, until - self.ctx.clock.now())))
        try:
            await asyncio.sleep(0)  # let both start waiting before anyone is told we are parked
            self.parked_until = until
            self.ctx.activity.changed()
            await asyncio.wait({wake, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (wake, timer):
                task.cancel()
            self.parked_until = None

    def _next_wake(self) -> float:
        """The earliest of: the next remote check, a retry or drift check that can run."""
        repo, ctx = self.repo, self.ctx
        times = [repo.next_check]
        if ctx.store_health.failing:
            times.append(ctx.clock.now() + ctx.settings.retry.initial)
        elif repo.revision is not None and repo.spec is not None and repo.source_error is None:
            for name in repo.spec.names:
                track = repo.tracks.get(name)
                if track is None:
                    continue
                if track.needs:
                    if not track.gave_up and name not in self._blocked:
                        times.append(track.next_try)
                elif track.next_drift is not None:
                    times.append(track.next_drift)
        return min(times)

    # ------------------------------------------------------------------ one pass

    async def pass_once(self) -> None:
        """Check the source if due, then converge the stacks and check drift."""
        repo, ctx = self.repo, self.ctx
        if repo.check_requested or ctx.clock.now() >= repo.next_check:
            repo.check_requested = False
            repo.pushed.clear()
            await self._check_source()
        elif repo.pushed:
            news = repo.pushed_news()
            if news:  # else the SHAs are known: no git at all
                await self._check_source(pushed=news)
        if ctx.store_health.failing:
            # A write, not a read: a database that refuses writes still answers reads.
            await ctx.io(ctx.rt.store.check_writable)
            ctx.store_health.ok()
        sha = repo.fetched_sha
        if sha is not None and sha not in (repo.invalid_sha, repo.revision.sha if repo.revision else None):
            await self._load(sha)
        repo.checked = True  # checked and, when it could be fetched, its stacks known (readiness)
        if repo.revision is None or repo.spec is None or repo.source_error is not None:
            return  # a source in error changes nothing: no apply, no self-heal (Argo CD)
        await self._publish()  # a new revision shows on every replica before its stacks converge
        await self._converge(repo.revision, repo.spec)
        await self._check_drift(repo.spec)

    async def _check_source(self, *, pushed: frozenset[str] = frozenset()) -> None:
        """Bring the branch up to date: ask the remote (``ls-remote``), fetch if it moved.

        ``pushed``: webhooks named these SHAs, not yet known. The remote is then not
        asked where the branch is: the mirror already has the branch at one of them
        (another entry of its URL fetched it), or one fetch brings it. Either way the
        branch is what the mirror says after that, never what a webhook claimed.
        """
        repo, ctx = self.repo, self.ctx
        url, branch = repo.config.fetch_url(), repo.config.branch
        cache = ctx.rt.sources.cache
        now = ctx.clock.now()
        try:
            remote: str | None = None
            if not pushed:
                remote = await ctx.io(lambda: cache.ls_remote(url, branch))
                if remote is None:
                    raise git_errors.GitError(f"the remote has no branch {branch!r}")
                repo.remote_sha = remote
            if pushed or remote != repo.fetched_sha:
                # One mirror per URL: an entry on another branch of it may have fetched this already.
                async with repo.fetching:
                    mirrored = await ctx.io(lambda: repositories.mirrored_sha(cache, url, branch))
                    if mirrored is None or mirrored not in (pushed or {remote}):
                        started = time.perf_counter()
                        await ctx.io(lambda: cache.fetch(url))
                        ctx.metrics.git_fetch_duration.labels(repository=repo.name).observe(
                            time.perf_counter() - started
                        )
                        mirrored = await ctx.io(lambda: cache.resolve(url, f"refs/heads/{branch}"))
                repo.fetched_sha = mirrored
                if pushed:
                    repo.remote_sha = mirrored
                    repo.answer(pushed)
                repo.last_fetch_at = datetime.now(UTC)
                log.info("repository %s: fetched %s at %s", repo.name, branch, mirrored[:12])
        except git_errors.GitError as exc:
            self._source_failed(exc.message, now=now)
            return
        finally:
            repo.last_check_at = datetime.now(UTC)
        if repo.source_error is not None:
            log.info("repository %s: the source works again", repo.name)
            ctx.notifications.source_works(repo.name)
        repo.source_error = None
        repo.backoff.reset()
        repo.next_check = now + repo.config.poll_interval

    def _source_failed(self, message: str, *, now: float) -> None:
        repo = self.repo
        delay = repo.backoff.failed()
        repo.source_error = self.ctx.redact(message)
        self.ctx.notifications.source_failed(repo.name, f"git failed: {repo.source_error}")
        repo.next_check = now + delay
        self.ctx.metrics.git_errors.labels(repository=repo.name).inc()
        log.warning(
            "repository %s: git failed (%d in a row), next try in %.0fs: %s",
            repo.name, repo.backoff.failures, delay, repo.source_error,
        )  # fmt: skip

    async def _load(self, sha: str) -> None:
        """Check out and validate ``sha``; make it the repository's revision if valid."""
        repo, ctx = self.repo, self.ctx
        try:
            revision = await operating.revision_at(ctx, repo, sha=sha)
            spec = await operating.spec_at(ctx, revision)
        except (paths.PathEscapeError, specs.SpecError) as exc:
            await self._invalid(sha, str(exc))
            return
        except git_errors.GitError as exc:
            self._source_failed(exc.message, now=ctx.clock.now())
            return
        old_revision, old_spec = repo.revision, repo.spec
        changed: tuple[str, ...] | None = None
        moved_back = False
        if old_revision is not None:
            url = repo.config.fetch_url()
            cache = ctx.rt.sources.cache
            try:
                changed = await ctx.io(lambda: cache.changed_paths(url, old_revision.sha, sha))
            except git_errors.GitError:
                changed = None
            moved_back = (
                await operating.relation(ctx, repo, applied=old_revision.sha, target=sha)
                is not guards.Direction.FORWARD
            )
        records = await ctx.io(lambda: ctx.rt.store.list_stacks(repository=repo.key))
        applied = {record.name: record.applied_revision for record in records}
        found = impacts.impacted_stacks(
            old=old_spec,
            new=spec,
            changed_paths=changed,
            applied=applied,
            planned_with={
                name: t.planned_with for name, t in repo.tracks.items() if t.planned_with is not None
            },
        )
        # Nothing above may fail once the revision is taken: every impact must be kept.
        repo.revision, repo.spec, repo.invalid_sha = revision, spec, None
        for gone in set(repo.tracks) - set(spec.names):
            del repo.tracks[gone]  # left the spec: no plans, no drift checks (nothing is destroyed)
        repo.revision_error = None
        if moved_back and old_revision is not None:
            repo.revision_error = ctx.redact(
                f"branch {repo.config.branch} moved from {old_revision.sha[:12]} to {sha[:12]}, which does "
                "not contain it (force-push?): stacks applied at newer revisions are not changed"
            )
            log.warning("repository %s: %s", repo.name, repo.revision_error)
        for impact in found:
            repo.track(impact.stack).demand(sha, because=impact.reasons)
        for track in repo.tracks.values():
            if track.needs and track.gave_up:  # a new commit gets fresh tries (Argo CD)
                track.demand(sha, because=(*track.because, "new revision"))
        log.info(
            "repository %s: revision %s (%s); stacks to plan: %s",
            repo.name, sha[:12], revision.commit.subject[:80],
            ", ".join(f"{i.stack} ({'; '.join(i.reasons)})" for i in found) or "none",
        )  # fmt: skip

    async def _invalid(self, sha: str, message: str) -> None:
        """Record an invalid revision once and show it; the last valid revision stays in force."""
        repo, ctx = self.repo, self.ctx
        text = ctx.redact(message)
        await ctx.io(
            lambda: executing.record_revision_failure(ctx.rt, repository=repo.key, revision=sha, error=text)
        )
        repo.invalid_sha = sha
        repo.revision_error = f"revision {sha[:12]} is invalid and was not applied: {text}"
        ctx.notifications.source_failed(repo.name, repo.revision_error, revision=sha)
        log.warning("repository %s: %s", repo.name, repo.revision_error)

    # ------------------------------------------------------------------ converge

    async def _converge(self, revision: sources.Revision, spec: specs.RepoSpec) -> None:
        """Work through the stacks that need it, in the steps of the dependency walk.

        A stack's turn comes once everything it depends on has had its turn in this pass,
        so it sees the revisions its dependencies were just applied at; independent stacks
        run at the same time, as many as the worker pool allows. A stack that needs no
        work, or is not due yet, ends its turn at once with what its track says.
        """
        repo, ctx = self.repo, self.ctx
        records = await ctx.io(lambda: ctx.rt.store.list_stacks(repository=repo.key))
        applied = self._applied = {record.name: record.applied_revision for record in records}
        await self._learn_commits({sha for sha in applied.values() if sha is not None})
        self._blocked = set()
        by_name = {stack.name: stack for stack in spec.stacks}
        walk = walks.Walk([(stack.name, stack.depends_on) for stack in spec.order()])
        running: dict[str, asyncio.Task[operating.Step]] = {}
        # A store failure in one stack's task stops new work, but never cuts short the
        # plans and applies of its siblings in flight: they finish (and are recorded) first.
        failure: store_errors.StoreError | None = None
        try:
            while not walk.done and (failure is None or running):
                for step in walk.ready() if failure is None else ():
                    stack = by_name[step.stack]
                    try:
                        start = await self._take(step, stack, revision, applied=applied)
                    except store_errors.StoreError as exc:  # recording a skip failed
                        failure = exc
                        break
                    except Exception as exc:
                        self._crashed(stack, revision=revision, exc=exc)
                        start = False
                    if start:
                        running[stack.name] = asyncio.create_task(
                            self._reconcile(stack, revision=revision, applied=applied)
                        )
                    elif isinstance(step, walks.Start):
                        walk.finish(stack.name, operating.ended(repo.tracks.get(stack.name)))
                if not running:
                    if failure is not None:
                        break
                    continue
                finished, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
                for name, task in list(running.items()):
                    if task not in finished:
                        continue
                    del running[name]
                    deployed = False
                    try:
                        deployed = task.result().applied
                    except store_errors.StoreError as exc:
                        failure = failure or exc
                    except Exception as exc:
                        self._crashed(by_name[name], revision=revision, exc=exc)
                    if deployed:
                        applied[name] = revision.sha
                    walk.finish(name, operating.ended(repo.tracks.get(name), applied=deployed))
            if failure is not None:
                raise failure
        finally:  # only when the pass itself is cancelled (the controller stops)
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    def _crashed(self, stack: specs.StackSpec, *, revision: sources.Revision, exc: Exception) -> None:
        """A bug in one stack's operation: logged with its traceback, counted as a failure
        (retried with backoff, dependents skipped); its siblings go on."""
        log.error(
            "repository %s, stack %s: the operation failed unexpectedly",
            self.repo.name,
            stack.name,
            exc_info=exc,
        )
        operating.count_failure(
            self.ctx,
            self.repo,
            stack=stack,
            sha=revision.sha,
            what="reconcile",
            error=f"internal error: {type(exc).__name__}: {exc}",
        )
        self.ctx.activity.changed()

    async def _learn_commits(self, shas: set[str]) -> None:
        """Author and subject of applied revisions the views do not know yet (after a restart)."""
        missing = sorted(sha for sha in shas if sha not in self.ctx.commits)
        for sha in missing:
            try:
                await operating.learn_commit(self.ctx, self.repo, sha=sha)
            except git_errors.GitError as exc:
                log.info("repository %s: no commit details for %s: %s", self.repo.name, sha[:12], exc)

    async def _take(
        self,
        step: walks.Step,
        stack: specs.StackSpec,
        revision: sources.Revision,
        *,
        applied: dict[str, str | None],
    ) -> bool:
        """Whether ``stack`` is to be planned now, as ``step`` says; records a skip once per
        revision when a dependency failed."""
        repo, ctx = self.repo, self.ctx
        track = repo.track(stack.name)
        moved = impacts.dependency_moves(stack, applied=applied, planned_with=track.planned_with)
        reasons = [f"dependency {dep} was applied" for dep in moved]
        if stack.inputs and track.planned_basis is None and not track.needs:
            # Not planned by this loop (a restart or a new owner, then an action applied its
            # stored plan): what its last recorded plan read, from the store.
            track.planned_basis = await ctx.io(
                functools.partial(resolving.recorded_basis, ctx.rt.store, repository=repo.key, stack=stack)
            )
        if stack.inputs and track.planned_basis is not None and not track.needs:
            # An output it reads may have changed (an upstream applied, its pending plan came or went).
            basis = await ctx.io(
                functools.partial(resolving.basis, ctx.rt.store, repository=repo.key, stack=stack)
            )
            reasons.extend(impacts.input_moves(stack, basis=basis, planned_basis=track.planned_basis))
        if reasons and not track.needs:
            track.demand(revision.sha, because=tuple(reasons))
        if not track.needs:
            return False
        if isinstance(step, walks.Start):
            return track.due(ctx.clock.now())
        self._blocked.add(stack.name)  # due when its dependency is; never before
        if isinstance(step, walks.Skip) and track.skip_recorded != revision.sha:
            reason = step.reason
            outcome = await ctx.io(
                functools.partial(executing.record_skipped, ctx.rt, revision, stack, reason=reason)
            )
            track.skip_recorded = revision.sha
            ctx.metrics.run_recorded(engine=stack.engine, kind="apply", result="skipped")
            log.info(
                "repository %s, stack %s: skipped (run %d): %s", repo.name, stack.name, outcome.run_id, reason
            )
        return False

    async def _reconcile(
        self, stack: specs.StackSpec, *, revision: sources.Revision, applied: dict[str, str | None]
    ) -> operating.Step:
        repo, ctx = self.repo, self.ctx
        track = repo.track(stack.name)
        async with ctx.operation_slots:
            with await ctx.locks.acquire((repo.name, stack.name), purpose="reconcile"):
                if not track.needs:  # an action did it while we waited
                    return operating.Step(ok=True)
                step = await operating.reconcile_stack(
                    ctx, repo, stack=stack, revision=revision, applied=applied
                )
        if step.ok:
            track.skip_recorded = None
        return step

    async def _check_drift(self, spec: specs.RepoSpec) -> None:
        repo, ctx = self.repo, self.ctx
        for stack in spec.order():
            track = repo.track(stack.name)
            if track.next_drift is None or track.needs or ctx.clock.now() < track.next_drift:
                continue
            lease = await ctx.locks.try_hold((repo.name, stack.name), purpose="drift check")
            if lease is None:
                continue  # an operation runs on it: the check waits for the next pass
            with lease:
                try:
                    await operating.check_drift(ctx, repo, name=stack.name)
                except (git_errors.GitError, specs.SpecError, errors.ControllerError) as exc:
                    track.checked(now=ctx.clock.now(), interval=stack.drift_interval)
                    log.warning(
                        "repository %s, stack %s: drift check skipped: %s", repo.name, stack.name, exc
                    )

    # ------------------------------------------------------------------ publish (replicas)

    async def _publish(self) -> None:
        """Publish what this owner knows of the repository for the other replicas, when it
        changed (PostgreSQL only; :mod:`truenorth.store.publications`). Never fails the loop."""
        repo, ctx = self.repo, self.ctx
        store = ctx.rt.store
        if store.backend != "postgresql" or not ctx.rt.holder:
            return  # one controller: nobody else reads it
        revision = repo.revision
        valid = revision.sha if revision is not None else None
        drifted = tuple(sorted(name for name, track in repo.tracks.items() if track.drift))
        shas = {sha for sha in (valid, repo.desired_sha, *self._applied.values()) if sha is not None}
        commits = {sha: dict(found) for sha in sorted(shas) if (found := ctx.commits.get(sha)) is not None}
        shown = (valid, repo.desired_sha, repo.source_error, repo.revision_error, repo.last_fetch_at, drifted)
        published = (*shown, commits)
        checked, last = repo.last_check_at, self._published_check
        if published == self._published and (
            checked == last
            or (
                checked is not None
                and last is not None
                and (checked - last).total_seconds() < CHECK_REPUBLISH
            )
        ):
            return
        try:
            text = await self._read_spec(revision)
            written = await ctx.io(
                lambda: store.publish(
                    repository=repo.key,
                    holder=ctx.rt.holder or "",
                    valid_revision=valid,
                    desired_revision=repo.desired_sha,
                    spec_text=text,
                    source_error=repo.source_error,
                    revision_error=repo.revision_error,
                    last_fetch_at=repo.last_fetch_at,
                    last_check_at=checked,
                    drifted=drifted,
                    commits=commits,
                )
            )
        except store_errors.StoreError as exc:
            self.ctx.store_health.failed(self.ctx.redact(str(exc)))
            self.ctx.metrics.store_errors.inc()
            return
        except ValueError as exc:  # a bug: the loop's own values were refused
            log.error("repository %s: could not publish its view: %s", repo.name, exc)
            return
        if written:
            self._published, self._published_check = published, checked
        else:
            log.info("repository %s: not published: this replica no longer holds its lease", repo.name)

    async def _read_spec(self, revision: sources.Revision | None) -> str | None:
        """The ``truenorth.yaml`` text of ``revision`` (validated when it was loaded), read once."""
        if revision is None:
            return None
        if self._spec_text is not None and self._spec_text[0] == revision.sha:
            return self._spec_text[1]
        path = revision.checkout / specs.SPEC_FILENAME

        def read() -> str | None:
            try:
                if path.is_symlink() or path.stat().st_size > specs.MAX_SPEC_BYTES:
                    return None
                return path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None

        text = await self.ctx.io(read)
        if text is None:
            log.warning(
                "repository %s: the spec of %s could not be read again: other replicas show its "
                "recorded stacks only", self.repo.name, revision.sha[:12],
            )  # fmt: skip
        self._spec_text = (revision.sha, text)
        return text
