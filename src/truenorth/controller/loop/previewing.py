"""Merge requests seen by the controller: preview them, keep one comment, set the statuses.

A forge's merge-request webhook (verified and parsed by the server,
:mod:`truenorth.forges.hooks`) reaches :meth:`Previews.received`. The repository is the
tracked one whose ``forge`` table names the event's project and whose branch is the
merge request's target. Then:

- **opened, updated, reopened** by an author allowed to (:func:`refusal`): the commit
  status ``truenorth/plan`` is set ``pending`` on the head commit, the stacks the merge
  request changes are planned at the head against the target branch
  (:mod:`truenorth.controller.runs.previewing`: the target's engine state, no stack's
  state changed, no secrets unless ``preview_secrets``, the repository's sandbox with
  its network setting), the ONE comment truenorth keeps on the merge request is written
  or edited (:mod:`truenorth.forges.commenting`), and the status becomes ``success`` or
  ``failure`` with a link to the web UI. A newer push cancels the preview still running
  for the same merge request.
- **by an author not allowed** (a fork, or not in ``preview_authors``): the comment says
  that a maintainer must comment ``/truenorth plan``; such a comment by an allowed user
  plans it (:class:`~truenorth.forges.hooks.PlanCommand`).
- **merged**: ``truenorth/apply`` is set ``pending`` on the merge commit and the
  repository is checked at once; when the reconcile has taken that revision and is
  idle, the same comment is edited into the result per stack, and the status becomes
  ``success`` (no stack failed) or ``failure``.
- **closed** unmerged: forgotten.

Forge failures are logged and never stop the controller. What the owner needs of each
open merge request (the last event's head, target, author and standing, the comment's
id, the newest order) is in the store (``store/merge_requests.py``), written when an
event changes it and read when an event or a comment arrives: after a restart, or once
another replica holds the repository, ``/truenorth plan`` still previews it. A merged
one stays recorded until its report is written; the replica that starts working on the
repository (a restart, a takeover) writes a report still due (:meth:`Previews.resume`),
and one that stops working on it leaves the report to the new owner.

With replicas (PostgreSQL), only the repository's owner previews (one fetch per
repository, one comment): any other replica records the event as a ``merge-request``
request (:func:`routed`, the parsed event and nothing else: no token, no secret) and the
owner's router hands it to :meth:`Previews.received` for that repository
(:func:`from_routed`), with the request's id as its *order*: an event of a merge request
older than one already acted on (two replicas, two deliveries in flight) is ignored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from truenorth import config
from truenorth.controller.loop import contexts, repositories
from truenorth.controller.runs import previewing, secrets
from truenorth.core import states
from truenorth.forges import comments, hooks, protocol, transport
from truenorth.notify import events
from truenorth.store import errors as store_errors
from truenorth.store import records, requesting

if TYPE_CHECKING:
    from truenorth.controller.runs import runtime
    from truenorth.store import database

__all__ = ["UNTRACKED", "WRITERS", "Previews", "RoutingError", "from_routed", "refusal", "routed"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: GitHub's ``author_association`` values of people with write access to the repository.
WRITERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
#: How long to wait for the reconcile of a merge commit before reporting what there is.
_MERGE_WAIT = 6 * 3600.0

#: What an event no tracked repository concerns is answered.
UNTRACKED = "ignored: no tracked repository has this forge project and target branch"
#: A routed event's title and link are cut to this (they are shown, never matched on).
_ROUTED_TEXT = 256

Event = hooks.MergeRequestEvent | hooks.PlanCommand


class RoutingError(ValueError):
    """An event that cannot travel to the repository's owner (too large), or a routed one
    that does not read back (a request written by another version)."""


def routed(event: Event) -> dict[str, Any]:
    """``event`` as the arguments of a ``merge-request`` request: what the owner needs, bounded.

    Only the parsed event travels (never the body, the forge token or the webhook
    secret). Raises :class:`RoutingError` when it would not fit a request.
    """
    fields = {item.name: getattr(event, item.name) for item in dataclasses.fields(event)}
    if isinstance(event, hooks.MergeRequestEvent):
        fields["action"] = event.action.value
        fields["title"] = event.title[:_ROUTED_TEXT]
        fields["url"] = event.url if len(event.url) <= _ROUTED_TEXT else ""
    arguments = {"kind": "command" if isinstance(event, hooks.PlanCommand) else "event", "event": fields}
    if len(json.dumps(arguments)) > requesting.MAX_ARGUMENT_BYTES:
        raise RoutingError(
            f"merge-request event {event.number} is too large to hand to the repository's owner "
            f"(over {requesting.MAX_ARGUMENT_BYTES} bytes of JSON)"
        )
    return arguments


_TEXTS = ("forge", "base_repo", "author")
_OPTIONAL = ("author_association",)
_EVENT_TEXTS = (*_TEXTS, "head_sha", "head_ref", "base_ref", "head_repo", "title", "url")
_EVENT_OPTIONAL = (*_OPTIONAL, "merge_sha")


def from_routed(arguments: Mapping[str, Any]) -> Event:
    """The event a ``merge-request`` request carries (:func:`routed`); :class:`RoutingError` if
    it does not read back."""
    fields = arguments.get("event")
    kind = arguments.get("kind")
    if not isinstance(fields, dict) or kind not in ("event", "command"):
        raise RoutingError("the request carries no merge-request event")
    texts, optional = (_EVENT_TEXTS, _EVENT_OPTIONAL) if kind == "event" else (_TEXTS, _OPTIONAL)
    expected = {"number", *texts, *optional, *(("action",) if kind == "event" else ())}
    if set(fields) != expected:
        raise RoutingError("the request's merge-request event has other fields than this version reads")
    number = fields["number"]
    if not isinstance(number, int) or isinstance(number, bool):
        raise RoutingError("the request's merge-request event: number is not an integer")
    values: dict[str, Any] = {"number": number}
    for name in texts:
        if not isinstance(fields[name], str):
            raise RoutingError(f"the request's merge-request event: {name} is not a string")
        values[name] = fields[name]
    for name in optional:
        if fields[name] is not None and not isinstance(fields[name], str):
            raise RoutingError(f"the request's merge-request event: {name} is not a string")
        values[name] = fields[name]
    if kind == "command":
        return hooks.PlanCommand(**values)
    try:
        values["action"] = hooks.MergeAction(fields["action"])
    except ValueError:
        raise RoutingError("the request's merge-request event has an unknown action") from None
    return hooks.MergeRequestEvent(**values)


def refusal(forge: config.ForgeConfig, event: hooks.MergeRequestEvent) -> str | None:
    """Why ``event``'s author may not trigger a preview (None: they may)."""
    if event.from_fork and not forge.preview_forks:
        return "it comes from a fork"
    if forge.preview_authors:
        if event.author not in forge.preview_authors:
            return f"{event.author} is not in this repository's preview_authors"
        return None
    if event.from_fork and (event.author_association or "").upper() not in WRITERS:
        return f"{event.author} has no write access to the repository"
    return None


def may_ask(forge: config.ForgeConfig, command: hooks.PlanCommand) -> bool:
    """Whether ``command``'s author may have a merge request previewed (a maintainer)."""
    if forge.preview_authors:
        return command.author in forge.preview_authors
    return (command.author_association or "").upper() in WRITERS


class Previews:
    """The merge requests of every tracked repository with a ``forge`` table."""

    def __init__(
        self,
        ctx: contexts.Context,
        repos: Mapping[str, repositories.RepositoryState],
        *,
        idle: Callable[[str], bool],
        owns: Callable[[str], bool] = lambda _name: True,
        connect: Callable[[protocol.ForgeSettings], protocol.Forge] = protocol.connect,
    ) -> None:
        self.ctx = ctx
        self._repos = repos
        self._idle = idle
        self._owns = owns
        self._connect = connect
        self._forges: dict[str, protocol.Forge] = {}
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: (repository, number) of the merges whose report is awaited here.
        self._watching: set[tuple[str, int]] = set()

    def candidates(self, event: Event) -> list[str]:
        """The tracked repositories ``event`` may concern (forge, project; the target branch)."""
        return [repo.name for repo in self._repos.values() if _concerns(repo, event)]

    async def received(
        self, event: Event, *, among: Collection[str] | None = None, order: int | None = None
    ) -> str:
        """Act on one verified merge-request event or ``/truenorth plan`` comment; what was done.

        ``among``: only these repositories (names), those this replica owns. ``order``
        (replicas: the id of the request that recorded the event): an event older than
        one of the same merge request already acted on is ignored. What is known of the
        merge request is read from the store and the event written there.
        """
        found = await self._repository(event, among)
        if found is None:
            return UNTRACKED
        repo, forge, known = found
        key = (repo.name, event.number)
        if isinstance(event, hooks.PlanCommand):
            if known is None or known.state != "open":
                return "ignored: no open merge request known here (push to it again)"
            if not may_ask(forge, event):
                return f"ignored: {event.author} may not ask for a preview"
            self._start(key, self._preview(repo, forge, _event_of(known), asked_by=event.author))
            return "previewing"
        newest = known.last_order if known is not None else None
        if order is not None and newest is not None and order < newest:
            return "ignored: a newer event of this merge request was already acted on"
        if event.action is hooks.MergeAction.CLOSED:
            await self._store(
                "forget",
                lambda store: store.forget_merge_request(
                    repository=repo.key, number=event.number, order=order
                ),
            )
            self._cancel(key)
            return "forgotten"
        merged = event.action is hooks.MergeAction.MERGED
        if not await self._remember(repo, event, state="merged" if merged else "open", order=order):
            return "ignored: a newer event of this merge request was already acted on"
        if merged:
            self._cancel(key)
            self._watch(repo, forge, event)
            return "watching the merge"
        refused = refusal(forge, event)
        if refused is not None:
            self._spawn(self._ask_maintainer(repo, forge, event, refused))
            return f"not previewed: {refused}"
        self._start(key, self._preview(repo, forge, event))
        return "previewing"

    def resume(self, name: str) -> None:
        """Repository ``name``'s loop starts here (a start, a lease taken): write the reports
        of its merges still due (recorded ``merged``), in the background."""
        repo = self._repos.get(name)
        if repo is None or repo.config.forge is None:
            return
        forge = repo.config.forge

        async def work() -> None:
            found = await self._store(
                "read the merges to report",
                lambda store: store.merge_requests(repositories=[repo.key], state="merged"),
            )
            for record in found or ():
                self._watch(repo, forge, _event_of(record))

        self._spawn(work())

    async def close(self) -> None:
        """Cancel what runs, close the forge clients."""
        tasks = [*self._tasks, *self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for forge in self._forges.values():
            await forge.close()
        self._forges.clear()

    async def drain(self) -> None:
        """Wait until every preview and merge report running now has ended (tests)."""
        while self._tasks or self._running:
            await asyncio.gather(*self._tasks, *self._running.values(), return_exceptions=True)

    # ------------------------------------------------------------------ the work

    async def _preview(
        self,
        repo: repositories.RepositoryState,
        forge: config.ForgeConfig,
        event: hooks.MergeRequestEvent,
        *,
        asked_by: str | None = None,
    ) -> None:
        adapter = self._adapter(repo.name, forge)
        link = self._link(repo.name)
        pending = protocol.CommitStatus(
            protocol.CommitState.PENDING, protocol.PLAN_CONTEXT, link, "truenorth is planning this change"
        )
        await self._forge_call(adapter.set_status(event.head_sha, pending), what="the pending status")
        rt = self.ctx.rt if forge.preview_secrets else _without_secrets(self.ctx.rt)
        who = f"{event.author}" + (f", asked by {asked_by}" if asked_by else "")
        reason = f"preview of merge request {event.number} ({who})"

        def work(_cancel: object) -> previewing.Result:
            prepared = previewing.prepare(
                rt, repo.config.fetch_url(), head=event.head_sha, base=event.base_ref
            )
            return previewing.plan(
                rt,
                prepared,
                repository=repo.name,
                head_ref=event.head_ref,
                actor=f"{forge.project.kind}:{event.author}",
                reason=reason,
                link=link,
            )

        try:
            result = await self.ctx.engine(work)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # git, an invalid truenorth.yaml, a bug: said on the merge request
            message = self.ctx.redact(f"{type(exc).__name__}: {exc}")
            log.warning(
                "repository %s: preview of merge request %d failed: %s", repo.name, event.number, message
            )
            body = (
                f"{comments.MARKER}\n### truenorth plan: {comments.escape(repo.name)}\n\n"
                f"The preview of {event.head_sha[:12]} failed:\n\n{comments.fenced(message, info='text')}"
            )
            await self._comment(repo, adapter, event.number, body, what="the comment")
            failed = protocol.CommitStatus(
                protocol.CommitState.FAILURE, protocol.PLAN_CONTEXT, link, "the preview failed"
            )
            await self._forge_call(adapter.set_status(event.head_sha, failed), what="the status")
            return
        body = comments.render(result.preview, limit=adapter.limit)
        await self._comment(repo, adapter, event.number, body, what="the comment")
        planned = len(result.preview.stacks)
        changed = sum(1 for item in result.outcomes if item.plan is not None and item.plan.has_changes)
        state = protocol.CommitState.FAILURE if result.failed else protocol.CommitState.SUCCESS
        description = (
            "a plan failed" if result.failed else f"{planned} stack(s) planned, {changed} with changes"
        )
        done = protocol.CommitStatus(state, protocol.PLAN_CONTEXT, link, description)
        await self._forge_call(adapter.set_status(event.head_sha, done), what="the status")
        notifier = self.ctx.notifications.notifier
        if notifier is not None:
            notifier.notify(
                events.Notice(
                    event=events.Event.PREVIEW_READY,
                    repository=repo.name,
                    at=result.revision.commit.date,
                    revision=event.head_sha,
                    author=event.author,
                    subject=event.title or result.revision.commit.subject,
                    summary=f"merge request {event.number}: {description}",
                    link=event.url or None,
                )
            )

    async def _ask_maintainer(
        self,
        repo: repositories.RepositoryState,
        forge: config.ForgeConfig,
        event: hooks.MergeRequestEvent,
        why: str,
    ) -> None:
        adapter = self._adapter(repo.name, forge)
        body = (
            f"{comments.MARKER}\n### truenorth plan: {comments.escape(repo.name)}\n\n"
            f"Not planned automatically: {comments.escape(why, limit=300)}. A maintainer must "
            f"comment `{hooks.COMMAND}` to plan {event.head_sha[:12]}.\n"
        )
        await self._comment(repo, adapter, event.number, body, what="the comment")

    async def _after_merge(
        self, repo: repositories.RepositoryState, forge: config.ForgeConfig, event: hooks.MergeRequestEvent
    ) -> None:
        adapter = self._adapter(repo.name, forge)
        sha = event.merge_sha
        link = self._link(repo.name)
        if sha is not None:
            pending = protocol.CommitStatus(
                protocol.CommitState.PENDING,
                protocol.APPLY_CONTEXT,
                link,
                "truenorth is applying this change",
            )
            await self._forge_call(adapter.set_status(sha, pending), what="the apply status")
        repo.wake_up()

        def settled() -> bool:
            revision = repo.revision
            if revision is None or (sha is not None and revision.sha != sha):
                return False
            return self._idle(repo.name)

        try:
            async with asyncio.timeout(_MERGE_WAIT):
                await self.ctx.activity.wait_until(lambda: settled() or not self._owns(repo.name))
        except TimeoutError:
            log.warning("repository %s: merge of %d not reconciled in time", repo.name, event.number)
        if not self._owns(repo.name):
            log.info("repository %s moved: its new owner reports merge %d", repo.name, event.number)
            return
        revision = repo.revision
        if revision is None:
            return
        records = await self.ctx.io(lambda: self.ctx.rt.store.list_stacks(repository=repo.key))
        names = repo.spec.names if repo.spec is not None else tuple(record.name for record in records)
        by_name = {record.name: record for record in records}
        rows = []
        for name in names:
            record = by_name.get(name)
            rows.append(
                comments.Applied(
                    stack=name,
                    state=record.sync_state if record is not None else "unknown",
                    applied=record.applied_revision if record is not None else None,
                    error=record.error if record is not None else None,
                )
            )
        failed = any(row.state == states.SyncState.FAILED.value for row in rows)
        shown = comments.Revision(sha=revision.sha, ref=repo.config.branch, subject=revision.commit.subject)
        body = comments.render_applied(
            repository=repo.name, revision=shown, stacks=tuple(rows), link=link, limit=adapter.limit
        )
        await self._comment(repo, adapter, event.number, body, what="the apply comment")
        state = protocol.CommitState.FAILURE if failed else protocol.CommitState.SUCCESS
        done = protocol.CommitStatus(
            state,
            protocol.APPLY_CONTEXT,
            link,
            "a stack failed" if failed else f"{len(rows)} stack(s) reconciled",
        )
        await self._forge_call(adapter.set_status(revision.sha, done), what="the apply status")
        await self._store(
            "forget the reported merge",
            lambda store: store.forget_merge_request(repository=repo.key, number=event.number),
        )

    # ------------------------------------------------------------------ plumbing

    async def _repository(
        self, event: Event, among: Collection[str] | None
    ) -> tuple[repositories.RepositoryState, config.ForgeConfig, records.MergeRequestRecord | None] | None:
        """The repository ``event`` is about and what the store knows of its merge request. A
        comment names no branch: the repository where the merge request is known, else the first."""
        first: tuple[repositories.RepositoryState, config.ForgeConfig, None] | None = None
        for repo in self._repos.values():
            forge = repo.config.forge
            if forge is None or not _concerns(repo, event) or (among is not None and repo.name not in among):
                continue
            key = repo.key
            known = await self._store(
                "read the merge request",
                functools.partial(_read_merge_request, key=key, number=event.number),
            )
            if known is not None or isinstance(event, hooks.MergeRequestEvent):
                return repo, forge, known
            first = first or (repo, forge, None)
        return first

    async def _remember(
        self,
        repo: repositories.RepositoryState,
        event: hooks.MergeRequestEvent,
        *,
        state: str,
        order: int | None,
    ) -> bool:
        """Record ``event`` in the store; False when a newer event was recorded (a store that
        cannot be written is logged, and the event still acted on)."""
        holder = self.ctx.rt.holder or ""
        written = await self._store(
            "record the merge request",
            lambda store: store.put_merge_request(
                repository=repo.key,
                number=event.number,
                order=order,
                state=state,
                forge=event.forge,
                project=event.base_repo,
                head_repo=event.head_repo,
                head_sha=event.head_sha,
                head_ref=event.head_ref,
                target_branch=event.base_ref,
                author=event.author,
                author_association=event.author_association,
                title=event.title,
                url=event.url,
                merge_sha=event.merge_sha,
                holder=holder,
            ),
        )
        return written is not False

    async def _store(self, what: str, call: Callable[[database.Store], T]) -> T | None:
        """``call`` on the store in the I/O pool; None, logged, when the store fails (a merge
        request's record is never worth a lost preview)."""
        store = self.ctx.rt.store
        try:
            return await self.ctx.io(lambda: call(store))
        except (store_errors.StoreError, ValueError) as exc:
            log.warning("merge requests: could not %s: %s", what, self.ctx.redact(str(exc)))
            return None

    async def _comment(
        self,
        repo: repositories.RepositoryState,
        adapter: protocol.Forge,
        number: int,
        body: str,
        *,
        what: str,
    ) -> None:
        """Write truenorth's one comment on merge request ``number`` and record its id."""
        found = await self._forge_call(adapter.upsert_comment(number, body), what=what)
        if isinstance(found, int) and not isinstance(found, bool) and found > 0:
            await self._store(
                "record the comment's id",
                lambda store: store.note_merge_request_comment(
                    repository=repo.key, number=number, comment_id=found
                ),
            )

    def _watch(
        self, repo: repositories.RepositoryState, forge: config.ForgeConfig, event: hooks.MergeRequestEvent
    ) -> None:
        """Report merge ``event`` once reconciled, unless this process already waits for it."""
        key = (repo.name, event.number)
        if key in self._watching:
            return
        self._watching.add(key)

        async def work() -> None:
            try:
                await self._after_merge(repo, forge, event)
            finally:
                self._watching.discard(key)

        self._spawn(work())

    def _adapter(self, name: str, forge: config.ForgeConfig) -> protocol.Forge:
        found = self._forges.get(name)
        if found is None:
            found = self._forges[name] = self._connect(forge.project)
        return found

    def _link(self, name: str) -> str | None:
        return self.ctx.settings.notifications.link(name, None)

    async def _forge_call(self, call: Awaitable[object], *, what: str) -> object:
        """``call``'s answer; None when the forge failed (logged)."""
        try:
            return await call
        except transport.ForgeError as exc:
            log.warning("forge: could not set %s: %s", what, self.ctx.redact(str(exc)))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("forge: could not set %s", what)
        return None

    def _start(self, key: tuple[str, int], work: Coroutine[object, object, None]) -> None:
        self._cancel(key)
        task = asyncio.get_running_loop().create_task(work)
        self._running[key] = task

        def done(_task: asyncio.Task[None]) -> None:
            if self._running.get(key) is task:
                del self._running[key]
            self.ctx.activity.changed()

        task.add_done_callback(done)

    def _cancel(self, key: tuple[str, int]) -> None:
        task = self._running.pop(key, None)
        if task is not None:
            task.cancel()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _concerns(repo: repositories.RepositoryState, event: Event) -> bool:
    """Whether ``event`` may be about ``repo``: its forge project, and for a merge-request
    event its branch as the target (a comment names no branch)."""
    forge = repo.config.forge
    if forge is None or forge.project.kind != event.forge:
        return False
    if forge.project.project.lower() != event.base_repo.lower():
        return False
    return not isinstance(event, hooks.MergeRequestEvent) or event.base_ref == repo.config.branch


def _read_merge_request(store: database.Store, *, key: str, number: int) -> records.MergeRequestRecord | None:
    return store.merge_request(repository=key, number=number)


def _event_of(record: records.MergeRequestRecord) -> hooks.MergeRequestEvent:
    """The merge request as recorded, as the event that recorded it (open: ``updated``)."""
    return hooks.MergeRequestEvent(
        forge=record.forge,
        action=hooks.MergeAction.MERGED if record.state == "merged" else hooks.MergeAction.UPDATED,
        number=record.number,
        head_sha=record.head_sha,
        head_ref=record.head_ref,
        base_ref=record.target_branch,
        base_repo=record.project,
        head_repo=record.head_repo,
        author=record.author,
        title=record.title,
        url=record.url,
        author_association=record.author_association,
        merge_sha=record.merge_sha,
    )


def _without_secrets(rt: runtime.Runtime) -> runtime.Runtime:
    """``rt`` whose secret references resolve to nothing (a preview without ``preview_secrets``)."""
    return dataclasses.replace(rt, secrets=secrets.SecretResolver(files={}, envs={}, environ={}))
