"""The live event stream wakes on every replica, not only on the repository's owner.

Two in-process controllers on one PostgreSQL store (the fixtures of
``tests/controller/test_sharing.py``), each replica's app served by a real uvicorn on
127.0.0.1, read by an httpx streaming client as a browser's ``EventSource`` reads it. The
stream's keep-alive is set to an hour here, so an event that arrives through the replica
that does not own the repository can only come from a wake: the owner's notification on
``truenorth_activity``, heard by the other replica's listener. A burst of writes costs a
few notifications (counted on a LISTEN connection of the test's own), and a run's log
followed through the non-owner arrives as promptly as through the owner (both read the
store every ``LOG_INTERVAL``; log lines notify nobody).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.controller.conftest import Harness, harness, repo  # noqa: F401
from tests.controller.test_sharing import DEADLINE, owner_and_other, pair  # noqa: F401
from tests.server.conftest import VIEWER, bearer, make_config
from tests.server.fakes import FakeController, stack_view
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.controller.loop import contexts
from truenorth.core import states
from truenorth.server import events, ports
from truenorth.server.app import create_app
from truenorth.store import database, signalling

#: An hour: no stream re-reads its page by itself during a test.
NEVER = 3600.0


@contextlib.asynccontextmanager
async def served(controller: Harness | ports.ControllerPort) -> AsyncIterator[str]:
    """A controller (started already) behind a real HTTP server on 127.0.0.1."""
    if isinstance(controller, Harness):
        assert controller.ctl is not None
        controller = controller.ctl
    app = create_app(controller, make_config())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until the server accepts them
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, ws="none", server_header=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        app.state.streams.close()  # as `truenorth serve` does: open streams end first
        server.should_exit = True
        await asyncio.wait_for(task, DEADLINE)
        sock.close()


class EventReader:
    """The events of one open text/event-stream response, as (name, data, arrival time)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> tuple[str, Any, float]:
        name, data = "", ""
        async for line in self._lines:
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            elif line == "" and name:
                return name, json.loads(data), time.monotonic()
        raise AssertionError("the stream ended")

    async def until(self, wanted: Callable[[str, Any], bool]) -> tuple[str, Any, float]:
        async with asyncio.timeout(DEADLINE):
            while True:
                name, data, at = await self.next()
                if wanted(name, data):
                    return name, data, at


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_run_started_by_the_owner_reaches_a_stream_on_the_other_replica_at_once(
    pair: tuple[Harness, Harness],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "KEEPALIVE", NEVER)
    for item in pair:
        await item.start()
    owner, other = await owner_and_other(pair)
    assert owner.ctl is not None and other.ctl is not None
    assert not other.ctl.sharing.owns("infra")
    # (before owning settled, either replica may have held the repository and announced)
    announced = owner.ctl.sharing.router.announcer, other.ctl.sharing.router.announcer
    for announcer in announced:
        assert await asyncio.to_thread(announcer.idle, DEADLINE)
    sent_before = tuple(found.sent for found in announced)
    async with served(other) as url, httpx.AsyncClient(base_url=url, timeout=DEADLINE) as client:
        stack = client.stream("GET", "/api/v1/events", params={"stack": "manual"}, headers=bearer(VIEWER))
        overview = client.stream("GET", "/api/v1/events", headers=bearer(VIEWER))
        async with stack as one, overview as page:
            assert one.status_code == 200 and page.status_code == 200
            one_events, page_events = EventReader(one), EventReader(page)
            _, first, _ = await one_events.until(lambda name, _: name == "stack")
            assert first["sync_state"] == "pending-approval" and not first["busy"]
            _, listed, _ = await page_events.until(lambda name, _: name == "page")
            assert "manual" in [item["name"] for item in listed["items"]]

            # The owner applies (held), asked of the owner itself: the other replica does
            # nothing of its own, and its streams would otherwise wait an hour.
            applying = owner.engine.hold("manual")
            asked = time.monotonic()
            run_id = await owner.ctl.approve("manual", actor="alice")
            _, busy, seen = await one_events.until(lambda name, data: name == "stack" and data["busy"])
            started_after = seen - asked
            _, row, _ = await page_events.until(
                lambda name, data: name == "stack" and data["name"] == "manual" and data["busy"]
            )
            assert busy["sync_state"] == row["sync_state"] == "applying"
            assert await asyncio.to_thread(applying.wait, DEADLINE)

            released = time.monotonic()
            owner.engine.release("manual")
            _, _, seen = await one_events.until(
                lambda name, data: name == "stack" and data["sync_state"] == "synced" and not data["busy"]
            )
            ended_after = seen - released
            assert owner.ctl.store.run_status(run_id) == "succeeded"
            await page_events.until(
                lambda name, data: (
                    name == "stack" and data["name"] == "manual" and data["sync_state"] == "synced"
                )
            )
    # Only the owner told anyone anything; the other replica wrote nothing a view shows.
    assert announced[0].sent >= sent_before[0] + 2
    assert announced[1].sent == sent_before[1]
    print(f"through the non-owner: run start seen after {started_after:.2f}s, end after {ended_after:.2f}s")


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_burst_of_log_lines_and_state_writes_costs_a_few_notifications(
    pair: tuple[Harness, Harness],  # noqa: F811
) -> None:
    for item in pair:
        await item.start()
    owner, _ = await owner_and_other(pair)
    assert owner.ctl is not None
    store, announcer = owner.ctl.store, owner.ctl.sharing.router.announcer
    key = owner.ctl.sharing._repos["infra"].key
    heard: list[signalling.Notice] = []
    done = threading.Event()
    with database.Store.open(store.url) as elsewhere:
        listener = elsewhere.listen([signalling.ACTIVITY_CHANNEL])

        def listen() -> None:
            while not done.is_set():
                heard.extend(listener.wait(timeout=0.5))

        thread = threading.Thread(target=listen, name="test-listen", daemon=True)
        thread.start()
        try:

            async def heard_until(marker: str) -> list[signalling.Notice]:
                """Every notice up to ``marker``, sent once the announcer is idle (after its
                last notice committed: notifications arrive in commit order)."""
                assert await asyncio.to_thread(announcer.idle, DEADLINE)
                await asyncio.to_thread(elsewhere.notify, signalling.ACTIVITY_CHANNEL, marker)
                async with asyncio.timeout(DEADLINE):
                    while not any(found.payload == marker for found in heard):
                        await asyncio.sleep(0.02)  # the test's own listener thread fills `heard`
                at = next(n for n, found in enumerate(heard) if found.payload == marker)
                batch = heard[:at]
                del heard[: at + 1]
                return batch

            await heard_until("before")  # whatever the owner's start-up announced

            def log_burst() -> int:
                run_id = store.start_run(stack="burst", repository=key, revision="b" * 40, kind="plan")
                for n in range(1000):
                    store.append_log(run_id, [f"line {n}"])
                store.finish_run(run_id, status="succeeded")
                return run_id

            run_id = await asyncio.to_thread(log_burst)
            logged = await heard_until("logged")
            assert len(store.read_log(run_id)) == 1000
            # The run's start and end (one batch when close together); no line notified.
            assert 1 <= len(logged) <= 2 and {found.payload for found in logged} == {key}

            def state_burst() -> float:
                began = time.monotonic()
                for n in range(300):
                    store.upsert_stack(repository=key, name="burst", error=f"write {n}")
                return time.monotonic() - began

            took = await asyncio.to_thread(state_burst)
            states = await heard_until("states")
            # At most one batch per interval, plus the first at once; one key each.
            bound = math.ceil(took / signalling.ANNOUNCE_INTERVAL) + 1
            assert 1 <= len(states) <= bound and {found.payload for found in states} == {key}
        finally:
            done.set()
            await asyncio.to_thread(thread.join, DEADLINE)
            listener.close()
    print(f"1,000 log lines: {len(logged)} notices; 300 state writes in {took:.2f}s: {len(states)} notices")


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_log_followed_through_the_other_replica_is_as_prompt_as_through_the_owner(
    pair: tuple[Harness, Harness],  # noqa: F811
) -> None:
    for item in pair:
        await item.start()
    owner, other = await owner_and_other(pair)
    assert owner.ctl is not None and other.ctl is not None
    store = owner.ctl.store
    key = owner.ctl.sharing._repos["infra"].key
    run_id = store.start_run(stack="manual", repository=key, revision="c" * 40, kind="plan")
    store.append_log(run_id, ["first"])
    path = f"/api/v1/runs/{run_id}/log/stream"
    waits: dict[str, list[float]] = {"owner": [], "other": []}
    async with (
        served(owner) as owner_url,
        served(other) as other_url,
        httpx.AsyncClient(timeout=DEADLINE) as client,
        client.stream("GET", owner_url + path, headers=bearer(VIEWER)) as through_owner,
        client.stream("GET", other_url + path, headers=bearer(VIEWER)) as through_other,
    ):
        readers = {"owner": EventReader(through_owner), "other": EventReader(through_other)}
        for reader in readers.values():
            _, data, _ = await reader.until(lambda name, _: name == "lines")
            assert [line["line"] for line in data["lines"]] == ["first"]
        for n in range(5):
            line = f"line {n}"
            written = time.monotonic()
            await asyncio.to_thread(store.append_log, run_id, [line])
            for name, reader in readers.items():
                _, data, seen = await reader.until(lambda event, _: event == "lines")
                assert [found["line"] for found in data["lines"]] == [line]
                waits[name].append(seen - written)
        await asyncio.to_thread(store.finish_run, run_id, status="succeeded")
        for reader in readers.values():
            _, data, _ = await reader.until(lambda name, _: name == "end")
            assert data == {"next_after": 6}
    owner_wait, other_wait = (statistics.median(waits[name]) for name in ("owner", "other"))
    # Both replicas read the shared store every LOG_INTERVAL: no keep-alive, no notification.
    assert max(waits["other"]) < events.LOG_INTERVAL + 5.0
    print(
        f"log line to client: median {owner_wait:.2f}s through the owner, {other_wait:.2f}s through the other"
    )


async def test_sqlite_has_no_listener_and_announces_nothing(harness: Harness) -> None:  # noqa: F811
    ctl = await harness.start()
    assert not ctl.sharing.enabled
    assert ctl.sharing.router._thread is None  # no listener thread
    assert ctl.store._watcher is None  # nobody is told of writes
    assert ctl.sharing.router.announcer.sent == 0


@dataclasses.dataclass
class ChangesWhileRead(FakeController):
    """A controller whose stack changes, once, while the stream reads it: as when the
    owner's next notice arrives during the read that its previous one caused."""

    activity: contexts.Activity = dataclasses.field(default_factory=contexts.Activity)
    loop: asyncio.AbstractEventLoop | None = None
    reads: int = 0

    async def changed(self) -> None:
        await self.activity.next_change()

    def stack(self, name: str, *, repository: str | None = None) -> Any:
        found = super().stack(name, repository=repository)
        self.reads += 1
        if self.reads == 2:  # the read after the first change: the stack changes under it
            self.stack_views[0] = dataclasses.replace(found, sync_state=states.SyncState.SYNCED)
            told = threading.Event()

            def tell() -> None:
                self.activity.changed()
                told.set()

            assert self.loop is not None
            self.loop.call_soon_threadsafe(tell)
            assert told.wait(DEADLINE)
        return found


async def test_a_change_while_the_stream_reads_is_sent_without_waiting_for_the_keep_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "KEEPALIVE", NEVER)
    controller = ChangesWhileRead(
        tmp_path / "data",
        stack_views=[stack_view("network", sync_state=states.SyncState.OUT_OF_SYNC)],
        loop=asyncio.get_running_loop(),
    )
    try:
        async with served(controller) as url, httpx.AsyncClient(base_url=url, timeout=DEADLINE) as client:
            params = {"stack": "network"}
            async with client.stream(
                "GET", "/api/v1/events", params=params, headers=bearer(VIEWER)
            ) as answer:
                reader = EventReader(answer)
                _, first, _ = await reader.until(lambda name, _: name == "stack")
                assert first["sync_state"] == "out-of-sync"
                controller.activity.changed()  # the first change: read again (no difference yet)
                _, now, _ = await reader.until(lambda name, _: name == "stack")
                assert now["sync_state"] == "synced" and controller.reads == 3
    finally:
        controller.store.close()


def test_an_announcer_coalesces_a_burst_and_sends_the_last_change() -> None:
    batches: list[list[str]] = []

    def send(keys: Any) -> None:
        batches.append(list(keys))

    announcer = signalling.Announcer(send, interval=0.05)
    announcer.start()
    try:
        began = time.monotonic()
        workers = [
            threading.Thread(target=lambda: [announcer.changed("a#main") for _ in range(5000)])
            for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        announcer.changed("b#main")  # the last change of the burst is never lost
        assert announcer.idle(DEADLINE)
        took = time.monotonic() - began
        assert "b#main" in batches[-1]
        assert len(batches) <= math.ceil(took / 0.05) + 1  # 20,001 changes
        assert all(set(batch) <= {"a#main", "b#main"} for batch in batches)
        assert announcer.sent == sum(len(batch) for batch in batches)
    finally:
        announcer.close()


def test_an_announcer_names_a_few_keys_a_batch_and_says_several_past_that() -> None:
    batches: list[list[str]] = []
    entered, gate = threading.Event(), threading.Event()

    def send(keys: Any) -> None:
        batches.append(list(keys))
        entered.set()
        assert gate.wait(DEADLINE)  # the first batch is held while the next one gathers

    announcer = signalling.Announcer(send, interval=0.01, keys=2)
    announcer.start()
    try:
        announcer.changed("a")
        assert entered.wait(DEADLINE)
        for key in ("b", "c", "b"):
            announcer.changed(key)
        gate.set()
        assert announcer.idle(DEADLINE)
        assert batches == [["a"], ["b", "c"]]
        gate.clear()
        entered.clear()
        announcer.changed("a")
        assert entered.wait(DEADLINE)
        for key in ("b", "c", "d"):  # more than 2: one notification for "several"
            announcer.changed(key)
        gate.set()
        assert announcer.idle(DEADLINE)
        assert batches[2:] == [["a"], [""]]
        announcer.changed("x" * 2000)  # no repository key is that long: "several", never cut
        assert announcer.idle(DEADLINE)
        assert batches[-1] == [""]
    finally:
        gate.set()
        announcer.close()


def test_a_closed_announcer_sends_what_was_pending_and_then_nothing() -> None:
    sent: list[list[str]] = []
    gone = threading.Event()

    def send(keys: Any) -> None:
        sent.append(list(keys))
        gone.set()

    announcer = signalling.Announcer(send, interval=NEVER)  # after one batch, it waits "forever"
    announcer.start()
    announcer.changed("first")
    assert gone.wait(DEADLINE)
    announcer.changed("pending")  # held back by the interval
    announcer.close()  # sent at once, not after the interval
    assert announcer.idle(DEADLINE)
    announcer.changed("late")
    assert sent == [["first"], ["pending"]]
