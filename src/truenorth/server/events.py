"""Server-sent events: the overview and a stack as they change, and a run's log as it is written.

``GET /api/v1/events`` streams what the page shows. With the overview's query (the
filters and the page of ``GET /stacks``) it sends ``page`` (the whole page, first and
whenever which stacks it holds, their total or the repositories in error change),
``stack`` (one row whose state changed: the browser patches that row) and ``counts``
(stacks per sync state and health, first and when they change). With ``stack=NAME``
(and ``repository``) it sends that one stack, first and when it changes. The server
re-reads the page only when the controller says something changed (a run started or
ended, a check, an action), at most every :data:`COALESCE` seconds, and every
:data:`KEEPALIVE` seconds anyway (with a comment line that keeps proxies from closing
the stream): one page query per change per open page, never a read of every stack and
never a poll from the browser. With several replicas, "the controller says something
changed" holds on every replica, whichever one the browser reached: the repository's
owner notifies ``truenorth_activity`` (coalesced: a few notifications a second at most)
and every replica's listener wakes its streams (``controller/loop/routing.py``).

``GET /api/v1/runs/{id}/log/stream`` sends the run's log lines as they are recorded
(``lines``, each event's id the last line's number, so a reconnecting ``EventSource``
goes on where it stopped through ``Last-Event-ID``), then ``end`` once the run finished;
a comment line every :data:`KEEPALIVE` seconds while the run writes nothing (``truenorth
logs --follow`` reads this stream too, and takes a long silence for a broken connection).
It reads the store every :data:`LOG_INTERVAL` seconds while the run is in flight, so a
run followed through a replica that does not own its repository is as prompt as through
the owner (log lines are in the shared store; they notify nobody).

Every string passes the app's secret redactor, as JSON answers do. At most
:data:`MAX_STREAMS` streams are open at once (503 past that); each ends when the client
goes, and all end when the server shuts down (:meth:`Streams.close`, called by
``serving``), so that a graceful stop never waits for a browser tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from truenorth.controller.actions import views
from truenorth.core import ids
from truenorth.server import api as api_routes
from truenorth.server import auth, ports, presenting

__all__ = ["COALESCE", "KEEPALIVE", "MAX_STREAMS", "Streams", "router", "sse"]

#: Seconds between two reads of one stream's page, whatever happens meanwhile.
COALESCE = 0.5
#: Seconds after which a quiet stream sends a comment and reads its page again.
KEEPALIVE = 15.0
#: Seconds between two reads of a running run's log.
LOG_INTERVAL = 0.5
#: How many streams may be open at once.
MAX_STREAMS = 100
#: What an ``EventSource`` waits before reconnecting (milliseconds).
_RETRY_MS = 3000

Scrub = Callable[[Any], Any]


class Streams:
    """The open event streams of one app: counted, and ended together at shutdown."""

    def __init__(self, *, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self.open = 0
        self._closing: asyncio.Event | None = None
        self.closed = False

    def _event(self) -> asyncio.Event:
        if self._closing is None:
            self._closing = asyncio.Event()
            if self.closed:
                self._closing.set()
        return self._closing

    def close(self) -> None:
        """End every stream (the server is stopping); new ones end at once."""
        self.closed = True
        if self._closing is not None:
            self._closing.set()

    @contextlib.contextmanager
    def admitted(self) -> Any:
        """Count one stream for its life; 503 when :attr:`limit` are open."""
        if self.open >= self.limit:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many event streams open")
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1

    async def wait(self, change: Callable[[], Any] | asyncio.Future[Any] | None, timeout: float) -> bool:
        """Wait for ``change`` (a controller change: a wait :meth:`armed` before, or one to
        start now) or ``timeout``; False once closing. The wait for ``change`` ends with it."""
        closing = self._event()
        if closing.is_set():
            if isinstance(change, asyncio.Future):
                change.cancel()
            return False
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(closing.wait())}
        if isinstance(change, asyncio.Future):
            waiters.add(change)
        elif change is not None:
            waiters.add(asyncio.ensure_future(change()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        return not closing.is_set()

    @staticmethod
    async def armed(change: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
        """A wait for the controller's next change that is already waiting: arm it before a
        read, so that a change while the read runs wakes the stream again (never lost)."""
        waiter: asyncio.Future[Any] = asyncio.ensure_future(change())
        await asyncio.sleep(0)  # its first step runs now: from here on, a change completes it
        return waiter


def sse(event: str, data: Any, *, event_id: int | None = None) -> bytes:
    """One server-sent event: its name, an optional id, and ``data`` as one line of JSON."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {text}\n\n".encode()


_HEADERS = {"X-Accel-Buffering": "no"}


def router(controller: ports.ControllerPort) -> APIRouter:
    """``/events`` and ``/runs/{id}/log/stream``, bound to ``controller``."""
    api = APIRouter(tags=["events"])

    @api.get(
        "/events",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "A stream of events."},
            **api_routes.ERROR_RESPONSES,
        },
    )
    async def events(
        request: Request,
        *,
        _caller: auth.Viewer,
        repository: api_routes.RepoFilter = None,
        stack: Annotated[str | None, Query(max_length=200, description="Follow this one stack.")] = None,
        engine: Annotated[str | None, Query(max_length=50)] = None,
        sync_state: Annotated[str | None, Query(max_length=50)] = None,
        health: Annotated[str | None, Query(max_length=50)] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        sort: api_routes.Sort = None,
        limit: api_routes.Limit = 100,
        offset: api_routes.Offset = 0,
    ) -> StreamingResponse:
        """The overview page (the filters of ``GET /stacks``) or one stack, sent again as it changes."""
        streams: Streams = request.app.state.streams
        scrub: Scrub = request.app.state.scrub
        read: Callable[[], dict[str, Any]]
        if stack is not None:
            name = stack

            def read() -> dict[str, Any]:
                with api_routes.translated():
                    return {"stack": presenting.stack_detail(controller.stack(name, repository=repository))}

        else:
            query = views.StackQuery(
                repository=repository,
                engine=engine,
                sync_state=sync_state,
                health=health,
                name_contains=q,
                offset=offset,
                limit=limit,
                sort=sort,
            )

            def read() -> dict[str, Any]:
                with api_routes.translated():
                    page = controller.stack_page(query)
                    counts = controller.state_counts()
                return {
                    "page": presenting.stack_page(page, limit=limit, offset=offset),
                    "counts": presenting.counts(counts),
                }

        change = await streams.armed(controller.changed)
        try:
            first = await run_in_threadpool(read)  # errors (404, 503) before the stream starts
            admission = streams.admitted()
        except BaseException:
            change.cancel()
            raise
        admission.__enter__()

        async def body() -> AsyncIterator[bytes]:
            nonlocal change
            try:
                yield f"retry: {_RETRY_MS}\n\n".encode()
                last: dict[str, Any] = {}
                snapshot = first
                while True:
                    for chunk in _differences(last, snapshot, scrub):
                        yield chunk
                    last = snapshot
                    if not await streams.wait(change, KEEPALIVE):
                        return
                    if not await streams.wait(None, COALESCE):
                        return
                    # Armed before the read: a change while it runs (the owner's next write,
                    # heard from another replica) is read next, not at the keep-alive.
                    change = await streams.armed(controller.changed)
                    yield b": keep-alive\n\n"
                    try:
                        snapshot = await run_in_threadpool(read)
                    except HTTPException as exc:
                        yield sse("problem", scrub({"detail": str(exc.detail), "status": exc.status_code}))
                        snapshot = last
            finally:
                change.cancel()
                admission.__exit__(None, None, None)

        return StreamingResponse(body(), media_type="text/event-stream", headers=_HEADERS)

    @api.get(
        "/runs/{run_id}/log/stream",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "The run's log lines."},
            **api_routes.ERROR_RESPONSES,
        },
    )
    async def log_stream(
        request: Request,
        _caller: auth.Viewer,
        run_id: Annotated[int, Path(ge=1)],
        after: Annotated[int, Query(ge=0, description="Only lines numbered after this.")] = 0,
        last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    ) -> StreamingResponse:
        """The run's log lines as they are recorded (``lines``), then ``end`` when the run finished."""
        streams: Streams = request.app.state.streams
        scrub: Scrub = request.app.state.scrub
        if last_event_id is not None and last_event_id.isdigit():
            after = max(after, int(last_event_id))
        run = ids.RunId(run_id)

        def read(cursor: int) -> views.LogPage:
            with api_routes.translated():
                page = controller.run_log(run, after=cursor, limit=1000)
            if page is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
            return page

        first = await run_in_threadpool(read, after)
        admission = streams.admitted()
        admission.__enter__()

        async def body() -> AsyncIterator[bytes]:
            try:
                yield f"retry: {_RETRY_MS}\n\n".encode()
                cursor, page, quiet = after, first, 0.0
                while True:
                    lines = api_routes.within_bytes(page.lines)
                    if lines:
                        cursor, quiet = lines[-1][0], 0.0
                        data = {
                            "lines": [{"seq": s, "line": text} for s, text in lines],
                            "next_after": cursor,
                        }
                        yield sse("lines", scrub(data), event_id=cursor)
                    elif page.finished:
                        yield sse("end", {"next_after": cursor}, event_id=cursor)
                        return
                    elif not await streams.wait(None, LOG_INTERVAL):
                        return
                    else:
                        quiet += LOG_INTERVAL
                        if quiet >= KEEPALIVE:
                            quiet = 0.0
                            yield b": keep-alive\n\n"
                    page = await run_in_threadpool(read, cursor)
            finally:
                admission.__exit__(None, None, None)

        return StreamingResponse(body(), media_type="text/event-stream", headers=_HEADERS)

    return api


def _differences(last: Mapping[str, Any], now: Mapping[str, Any], scrub: Scrub) -> list[bytes]:
    """The events that bring a page that showed ``last`` to ``now``."""
    found: list[bytes] = []
    if "stack" in now:
        if now["stack"] != last.get("stack"):
            found.append(sse("stack", scrub(now["stack"].model_dump(mode="json"))))
        return found
    page, before = now["page"], last.get("page")
    if before is None or _shape(page) != _shape(before):
        found.append(sse("page", scrub(page.model_dump(mode="json"))))
    else:
        for old, new in zip(before.items, page.items, strict=True):
            if old != new:
                found.append(sse("stack", scrub(new.model_dump(mode="json"))))
    if now["counts"] != last.get("counts"):
        found.append(sse("counts", scrub(now["counts"].model_dump(mode="json"))))
    return found


def _shape(page: Any) -> tuple[Any, ...]:
    """What, changed, makes the whole page be sent again: its stacks, their total, the errors."""
    return (
        tuple((item.repository, item.name) for item in page.items),
        page.total,
        tuple((e.repository, e.source_error) for e in page.source_errors),
    )
