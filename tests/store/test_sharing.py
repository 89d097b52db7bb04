"""Controllers sharing one store: leases, stack locks, notifications, requests, outages.

The PostgreSQL tests open two :class:`Store` objects on one database (two pools, as two
replicas would) against the real throwaway server; lease expiry is judged by the
server's clock, so those tests wait for it (bounded polling, never a fixed sleep).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from tests.store.conftest import Clock
from tests.support.postgres import PostgresServer
from truenorth.store import Store, StoreError, locking, requesting, sqlite_url

T = TypeVar("T")
REPO = "https://git.example/team/infra.git#main"
OTHER = "https://git.example/team/apps.git#main"
_DEADLINE = 30.0


def _eventually(attempt: Callable[[], T | None], *, what: str) -> T:
    """``attempt()`` until it returns something, for at most 30 s."""
    deadline = time.monotonic() + _DEADLINE
    while True:
        found = attempt()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def pair(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one PostgreSQL database: replicas A and B."""
    first, second = Store.open(postgres_url), Store.open(postgres_url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


# Leases -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_only_one_replica_wins_a_lease_even_when_all_try_at_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    contenders = [f"replica-{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda n: (a if n % 2 else b).take_lease(REPO, replica=contenders[n], seconds=30), range(8)
            )
        )
    winners = [lease for lease in results if lease is not None]
    assert len(winners) == 1
    (lease,) = winners
    assert lease.epoch == 1 and lease.previous_holder == ""
    assert lease.taken_over_from(lease.holder) is None
    assert [found.holder for found in b.leases()] == [lease.holder]


@pytest.mark.postgres
def test_a_held_lease_is_refused_renewed_by_its_holder_and_taken_over_after_expiry(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    first = a.take_lease(REPO, replica="A", seconds=0.5)
    assert first is not None and first.holder == "A"
    assert b.take_lease(REPO, replica="B", seconds=30) is None
    # Renewal keeps it past its first expiry (judged by the server's clock).
    assert a.renew_leases(replica="A", seconds=60) == [REPO]
    _eventually(lambda: True if b.database_time() > first.expires_at else None, what="the first expiry")
    assert b.take_lease(REPO, replica="B", seconds=30) is None
    again = a.take_lease(REPO, replica="A", seconds=0.3)
    assert again is not None and again.epoch == first.epoch and again.acquired_at == first.acquired_at
    # Not renewed: B takes it once it expires, and learns whose runs to interrupt.
    taken = _eventually(lambda: b.take_lease(REPO, replica="B", seconds=30), what="the takeover")
    assert taken.holder == "B" and taken.previous_holder == "A" and taken.epoch == first.epoch + 1
    assert taken.taken_over_from("B") == "A"
    assert a.renew_leases(replica="A", seconds=30) == []  # A learns it lost the lease


@pytest.mark.postgres
def test_a_released_lease_is_taken_at_once_and_interrupts_nobody(pair: tuple[Store, Store]) -> None:
    a, b = pair
    a.heartbeat("A", address="10.0.0.1:8080")
    assert a.take_lease(REPO, replica="A", seconds=300) is not None
    assert a.take_lease(OTHER, replica="A", seconds=300) is not None
    assert a.leave("A") == sorted([REPO, OTHER])
    taken = b.take_lease(REPO, replica="B", seconds=30)
    assert taken is not None and taken.taken_over_from("B") is None
    assert [r.id for r in b.live_replicas(within=60)] == []


@pytest.mark.postgres
def test_live_replicas_are_those_with_a_recent_heartbeat(pair: tuple[Store, Store]) -> None:
    a, b = pair
    a.heartbeat("A", address="10.0.0.1:8080")
    b.heartbeat("B")
    assert [(r.id, r.address) for r in a.live_replicas(within=60)] == [("A", "10.0.0.1:8080"), ("B", "")]
    _eventually(lambda: True if len(a.live_replicas(within=0.2)) == 0 else None, what="silence")
    b.heartbeat("B")
    assert [r.id for r in a.live_replicas(within=0.2)] == ["B"]
    assert a.forget_replicas(silent_for=0.2) == ["A"]


def test_leases_on_sqlite_follow_the_store_clock(tmp_path: object, clock: Clock) -> None:
    with Store.open(sqlite_url(tmp_path / "data"), clock=clock) as store:  # type: ignore[operator]
        assert store.take_lease(REPO, replica="A", seconds=30) is not None
        assert store.take_lease(REPO, replica="B", seconds=30) is None
        clock.advance(31)
        taken = store.take_lease(REPO, replica="B", seconds=30)
        assert taken is not None and taken.taken_over_from("B") == "A"
        with store.stack_lock(REPO, "web") as lock, store.stack_lock(REPO, "web"):
            assert lock.held()  # one controller by rule: nothing to hold


@pytest.mark.parametrize("seconds", [0, -1, 1e9, float("nan"), True, "30"])
def test_a_lease_time_out_of_bounds_is_refused(tmp_path: object, seconds: object) -> None:
    with (
        Store.open(sqlite_url(tmp_path / "data")) as store,  # type: ignore[operator]
        pytest.raises(ValueError, match="lease time"),
    ):
        store.take_lease(REPO, replica="A", seconds=seconds)  # type: ignore[arg-type]


def test_a_takeover_interrupts_only_the_dead_replicas_runs_in_that_repository(store: Store) -> None:
    def start(repository: str, holder: str) -> int:
        return store.start_run(
            stack="web", repository=repository, revision="a" * 40, kind="apply", holder=holder
        )

    dead_here, dead_elsewhere, alive_here = start(REPO, "A"), start(OTHER, "A"), start(REPO, "C")
    assert store.mark_interrupted(holder="A", repository=REPO) == [dead_here]
    assert store.run_status(dead_elsewhere) == "running"
    assert store.run_status(alive_here) == "running"


# Stack locks ------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_stack_lock_excludes_other_sessions_and_is_released_on_exit(pair: tuple[Store, Store]) -> None:
    a, b = pair
    with a.stack_lock(REPO, "web") as held:
        assert held.held()
        with pytest.raises(locking.StackBusy, match=r"'web' .* is busy"):
            b.stack_lock(REPO, "web").acquire()
        started = time.monotonic()
        with pytest.raises(locking.StackBusy):
            b.stack_lock(REPO, "web", wait=0.3).acquire()
        assert time.monotonic() - started >= 0.25
        with b.stack_lock(REPO, "db"), b.stack_lock(OTHER, "web"):
            pass  # other stacks are free
    with b.stack_lock(REPO, "web") as mine:
        assert mine.held()


@pytest.mark.postgres
def test_a_waiting_stack_lock_gets_it_when_the_holder_lets_go(pair: tuple[Store, Store]) -> None:
    a, b = pair
    first = a.stack_lock(REPO, "web")
    first.acquire()
    waiting = b.stack_lock(REPO, "web", wait=30)
    got = threading.Event()

    def wait_for_it() -> None:
        waiting.acquire()
        got.set()

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    assert not got.wait(0.2)
    first.release()
    assert got.wait(_DEADLINE)
    thread.join()
    waiting.release()


@pytest.mark.postgres
def test_a_stack_lock_dies_with_its_session(
    pair: tuple[Store, Store], postgres_server: PostgresServer
) -> None:
    a, b = pair
    lock = a.stack_lock(REPO, "web")
    lock.acquire()
    unsigned = lock.key & 0xFFFF_FFFF_FFFF_FFFF
    with postgres_server.admin() as admin:
        row = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::oid AND objid = %s::oid AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFF_FFFF),
        ).fetchone()
        assert row is not None
        admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))

    def try_lock() -> locking.StackLock | None:
        other = b.stack_lock(REPO, "web")
        try:
            other.acquire()
        except locking.StackBusy:
            return None
        return other

    taken = _eventually(try_lock, what="the lock to be free after its session died")
    assert not lock.held()
    lock.release()  # a dead session is fine to release
    taken.release()


# Notifications and requests ---------------------------------------------------------


@pytest.mark.postgres
def test_a_request_reaches_the_owners_listener_in_under_a_second(pair: tuple[Store, Store]) -> None:
    asker, owner = pair
    with (
        owner.listen([requesting.REQUESTS_CHANNEL]) as listener,
        asker.listen([requesting.ANSWERS_CHANNEL]) as answers,
    ):
        started = time.monotonic()
        request_id = asker.request(
            repository=REPO, action="sync", stack="web", requested_by="A", actor="alice", arguments={"n": 1}
        )
        notice = next(iter(listener.wait(10)))
        assert time.monotonic() - started < 1.0
        assert json.loads(notice.payload) == {"id": request_id, "repository": REPO}
        (taken,) = owner.take_requests(replica="B", repositories=[REPO])
        assert (taken.id, taken.action, taken.stack, taken.arguments, taken.actor) == (
            request_id, "sync", "web", {"n": 1}, "alice",
        )  # fmt: skip
        assert owner.take_requests(replica="C", repositories=[REPO]) == []
        assert owner.finish_request(request_id, status="done", outcome={"runs": [7]})
        answer = next(iter(answers.wait(10)))
        assert answer.payload == str(request_id)
        record = asker.get_request(request_id)
        assert record is not None and record.finished and record.outcome == {"runs": [7]}
        assert not owner.finish_request(request_id, status="failed")


def test_requests_of_a_dead_taker_end_failed_and_old_ones_are_pruned(store: Store) -> None:
    first = store.request(repository=REPO, action="fetch", requested_by="A")
    second = store.request(repository=OTHER, action="refresh", requested_by="A")
    store.take_requests(replica="dead", repositories=[REPO, OTHER])
    assert store.abandon_requests(holder="dead", repository=REPO) == [first]
    record = store.get_request(first)
    assert record is not None and record.status == "failed" and "interrupted" in record.outcome["error"]
    assert store.get_request(second).status == "taken"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="request action"):
        store.request(repository=REPO, action="destroy", requested_by="A")


def test_notifications_travel_inside_the_process_on_sqlite(tmp_path: object) -> None:
    with Store.open(sqlite_url(tmp_path / "data")) as store:  # type: ignore[operator]
        with store.listen(["truenorth_requests"]) as listener:
            store.request(repository=REPO, action="fetch", requested_by="A")
            notice = next(iter(listener.wait(5)))
            assert json.loads(notice.payload)["repository"] == REPO
        with pytest.raises(ValueError, match="channel name"):
            store.notify("Robert'); DROP TABLE runs;--")


# Outages ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_store_and_its_listener_recover_from_a_database_restart(
    pair: tuple[Store, Store], postgres_server: PostgresServer
) -> None:
    a, b = pair
    a.ping()
    assert a.take_lease(REPO, replica="A", seconds=300) is not None
    listener = b.listen([requesting.REQUESTS_CHANNEL])
    try:
        postgres_server.pause()
        try:
            with pytest.raises(StoreError, match="cannot reach the state database"):
                a.ping(timeout=1)
            assert not any(n for n in listener.wait(0.6) if not n.missed)
        finally:
            postgres_server.resume()
        # The next calls work without reopening anything.
        a.ping()
        assert [lease.holder for lease in a.leases()] == ["A"]
        missed = _eventually(
            lambda: next((n for n in listener.wait(1) if n.missed), None), what="the listener to reconnect"
        )
        assert missed.channel == requesting.REQUESTS_CHANNEL
        request_id = a.request(repository=REPO, action="fetch", requested_by="A")
        notice = next(iter(listener.wait(10)))
        assert json.loads(notice.payload)["id"] == request_id
    finally:
        listener.close()
