"""Work routed through the database to a repository's owner: webhooks and actions.

With several replicas on one PostgreSQL store (:mod:`.sharing`), a webhook or an API
action may reach a replica that does not hold the repository's lease. It writes a
request (``Store.request``: the row first, then a notification on commit), and the
owner's *listener thread*, blocked in LISTEN on :data:`~truenorth.store.requesting.REQUESTS_CHANNEL`,
wakes at once; the owner takes the pending requests of the repositories it holds (one
atomic statement, so no request is taken twice), runs them as if they had been asked of
it, and answers (``Store.finish_request``, which notifies
:data:`~truenorth.store.requesting.ANSWERS_CHANNEL`). The asking replica waits for that
answer (:meth:`Router.ask`), so an action through a non-owner returns the same run id,
or the same error, as through the owner.

A webhook is told, not asked (:meth:`Router.tell`: the caller is answered at once). A
merge-request webhook carries its event and the forge's delivery id as the request's
``dedup`` key, recorded once per repository; the owner records the ones it receives
itself as taken at once (:meth:`Router.note`), so a redelivery reaching any replica is
found and dropped, never previewed twice.

Notifications only make it fast; the table is the record. A notification lost while the
listener reconnected (the database restarted) is made up for by reading the table again
(the listener yields a *missed* notice then), and the owner also reads it on every lease
renewal and whenever it takes a lease. An answer is also polled for, once a second.

The same listener wakes this replica's live event streams when a view changes on another
replica: the store tells the router's :class:`~truenorth.store.signalling.Announcer` of
every committed write a view shows (``Store.watch``: runs, stack states, outputs,
publications), which notifies :data:`~truenorth.store.signalling.ACTIVITY_CHANNEL` a few
times a second at most, with the repository's key; every replica's listener then calls
``Activity.changed()``, as a change of its own does. A missed notice (a reconnect) wakes
them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from truenorth.controller import errors
from truenorth.controller.loop import contexts
from truenorth.store import errors as store_errors
from truenorth.store import records, requesting, signalling

__all__ = ["ANSWER_TIMEOUT", "Handler", "Router"]

log = logging.getLogger(__name__)

#: What the owner does with one request: its outcome (JSON), or a ``ControllerError``.
Handler = Callable[[records.RequestRecord], Awaitable[Mapping[str, Any]]]
#: How long an asking replica waits for the owner's answer before telling its caller.
ANSWER_TIMEOUT = 30.0
_POLL_SECONDS = 1.0
_LISTEN_SLICE = 1.0


class Router:
    """The routed requests of one replica: asking the owner, and answering as the owner."""

    def __init__(
        self,
        ctx: contexts.Context,
        *,
        replica: str,
        owned: Callable[[], Sequence[str]],
        handler: Handler | None = None,
    ) -> None:
        self.ctx = ctx
        self.replica = replica
        #: The repository keys whose requests this replica may take now.
        self._owned = owned
        self.handler = handler
        self._due = asyncio.Event()
        self._answers: dict[int, asyncio.Event] = {}
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: asyncio.Task[None] | None = None
        self._working: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Set (on the loop) once the listener thread has ended.
        self._listened = asyncio.Event()
        #: Tells the other replicas that a repository's views changed (started with the router).
        self.announcer = signalling.Announcer(self._announce)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the listener thread and the task that takes requests."""
        self._loop = asyncio.get_running_loop()
        self.announcer.start()
        self.ctx.rt.store.watch(self.announcer.changed)
        self._thread = threading.Thread(target=self._listen, name="truenorth-listen", daemon=True)
        self._thread.start()
        self._server = asyncio.create_task(self._serve_forever(), name="truenorth-requests")

    async def stop(self) -> None:
        """Stop listening and taking requests; requests being worked on are cancelled."""
        self._closing.set()
        self.ctx.rt.store.watch(None)
        self.announcer.close()  # what is pending still goes out, from its own thread
        tasks = [task for task in (self._server, *self._working) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # The listener thread notices ``_closing`` within a slice; it is waited for on the
        # loop (never in the default executor, which closing the event loop joins without
        # a bound) and, a daemon, left behind if it does not end in time.
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listened.wait(), timeout=_LISTEN_SLICE * 3)

    def due(self) -> None:
        """Read the requests table now (a lease was taken or renewed, a notice came)."""
        self._due.set()

    # ------------------------------------------------------------------ asking

    async def tell(
        self,
        *,
        repository: str,
        action: str,
        arguments: Mapping[str, Any] | None = None,
        dedup: str | None = None,
    ) -> int | None:
        """Record a request for the owner of ``repository`` and return at once (webhooks).

        ``dedup`` (a forge's delivery): None, nothing recorded, when ``repository``
        already has a request with that key (a redelivery, on whichever replica).
        """
        store = self.ctx.rt.store
        return await self.ctx.io(
            lambda: store.request_once(
                repository=repository,
                action=action,
                requested_by=self.replica,
                arguments=arguments,
                dedup=dedup,
            )
        )

    async def note(
        self, *, repository: str, action: str, arguments: Mapping[str, Any], dedup: str | None
    ) -> int | None:
        """As the owner: record work done here at once (taken by this replica, nobody woken),
        so that a redelivery of ``dedup`` elsewhere finds it; None when it was recorded before."""
        store = self.ctx.rt.store
        return await self.ctx.io(
            lambda: store.request_once(
                repository=repository,
                action=action,
                requested_by=self.replica,
                arguments=arguments,
                dedup=dedup,
                taken_by=self.replica,
            )
        )

    async def noted(self, request_id: int, outcome: Mapping[str, Any]) -> None:
        """End a request recorded by :meth:`note` as done (a failure to record is only logged)."""
        store = self.ctx.rt.store
        try:
            await self.ctx.io(lambda: store.finish_request(request_id, status="done", outcome=outcome))
        except store_errors.StoreError as exc:
            log.warning("cannot record the end of request %d: %s", request_id, self.ctx.redact(str(exc)))

    async def ask(
        self,
        *,
        repository: str,
        action: str,
        stack: str,
        actor: str,
        arguments: Mapping[str, Any],
        timeout: float = ANSWER_TIMEOUT,
    ) -> Mapping[str, Any]:
        """Ask the owner of ``repository`` to do ``action`` and wait for its answer.

        Returns the outcome of a request that was done; raises the owner's
        ``ControllerError`` for one that failed, and ``unavailable`` when no answer came
        within ``timeout`` (the request stays recorded: the owner may still do it).
        """
        store = self.ctx.rt.store
        with errors.store_unavailable():
            request_id = await self.ctx.io(
                lambda: store.request(
                    repository=repository,
                    action=action,
                    requested_by=self.replica,
                    stack=stack,
                    arguments=dict(arguments),
                    actor=actor,
                )
            )
        woken = self._answers[request_id] = asyncio.Event()
        deadline = time.monotonic() + timeout
        try:
            while True:
                woken.clear()
                with errors.store_unavailable():
                    found = await self.ctx.io(lambda: store.get_request(request_id))
                if found is not None and found.status in ("done", "failed"):
                    return _answer(found)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.ControllerError(
                        errors.UNAVAILABLE,
                        f"request {request_id} went to the controller that owns this repository and was "
                        f"not answered within {timeout:.0f}s; it stays recorded and may still be done",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), timeout=min(left, _POLL_SECONDS))
        finally:
            self._answers.pop(request_id, None)

    # ------------------------------------------------------------------ answering

    async def _serve_forever(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            owned = list(self._owned())
            if not owned or self.handler is None:
                continue
            store = self.ctx.rt.store
            try:
                taken = await self.ctx.io(
                    functools.partial(store.take_requests, replica=self.replica, repositories=owned)
                )
            except store_errors.StoreError as exc:
                log.warning("cannot take routed requests: %s", self.ctx.redact(str(exc)))
                continue
            for request in taken:
                task = asyncio.create_task(self._work(request), name=f"truenorth-request-{request.id}")
                self._working.add(task)
                task.add_done_callback(self._working.discard)

    async def _work(self, request: records.RequestRecord) -> None:
        assert self.handler is not None
        status, outcome = "done", {}
        try:
            outcome = dict(await self.handler(request))
        except errors.ControllerError as exc:
            status, outcome = "failed", {"error": self.ctx.redact(exc.message), "kind": exc.kind}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("routed request %d (%s) failed unexpectedly", request.id, request.action, exc_info=exc)
            status, outcome = (
                "failed",
                {"error": f"internal error: {type(exc).__name__}", "kind": "unavailable"},
            )
        store = self.ctx.rt.store
        try:
            await self.ctx.io(lambda: store.finish_request(request.id, status=status, outcome=outcome))
        except store_errors.StoreError as exc:
            log.warning("cannot answer routed request %d: %s", request.id, self.ctx.redact(str(exc)))
        log.info("routed request %d (%s of %s %s): %s", request.id, request.action, request.repository,
                 request.stack or "-", status)  # fmt: skip

    def _announce(self, keys: Sequence[str]) -> None:
        """Blocking (the announcer's thread): one notification per key."""
        store = self.ctx.rt.store
        for key in keys:
            store.notify(signalling.ACTIVITY_CHANNEL, key)

    # ------------------------------------------------------------------ the listener thread

    def _listen(self) -> None:
        """Blocking: LISTEN on the three channels, hand each notice to the event loop; reconnect."""
        store = self.ctx.rt.store
        channels = (requesting.REQUESTS_CHANNEL, requesting.ANSWERS_CHANNEL, signalling.ACTIVITY_CHANNEL)
        listener: signalling.Listener | None = None
        try:
            while not self._closing.is_set():
                if listener is None:
                    try:
                        listener = store.listen(channels)
                    except Exception:  # the database is away: try again shortly
                        self._closing.wait(_LISTEN_SLICE)
                        continue
                    for channel in channels:  # anything sent meanwhile was missed: read again
                        self._post(signalling.Notice(channel=channel, payload="", missed=True))
                for notice in listener.wait(timeout=_LISTEN_SLICE):
                    self._post(notice)
        finally:
            if listener is not None:
                listener.close()
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._listened.set)

    def _post(self, notice: signalling.Notice) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._noticed, notice)

    def _noticed(self, notice: signalling.Notice) -> None:
        if notice.channel == signalling.ACTIVITY_CHANNEL:
            self.ctx.activity.changed()  # a view changed on some replica (or notices were missed)
            return
        if notice.channel == requesting.REQUESTS_CHANNEL:
            self._due.set()
            return
        if notice.missed:
            for event in self._answers.values():
                event.set()
            return
        with contextlib.suppress(ValueError):
            waiting = self._answers.get(int(notice.payload[:20]))
            if waiting is not None:
                waiting.set()


def _answer(found: records.RequestRecord) -> Mapping[str, Any]:
    outcome = found.outcome if isinstance(found.outcome, dict) else {}
    if found.status == "done":
        return outcome
    kind = outcome.get("kind")
    message = outcome.get("error")
    raise errors.ControllerError(
        kind if kind in errors.KINDS else errors.UNAVAILABLE,
        str(message)[:2000] if message else f"request {found.id} failed",
    )
