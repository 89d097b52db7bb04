"""Recording runs: start, finish, query; the history the controller and UI read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.store.conftest import Clock
from truenorth.core import runs
from truenorth.store import Store, StoreError

REPO = "https://git.example.test/org/infra.git"
SHA_A = "a" * 40
SHA_B = "b" * 40


def _start(
    store: Store,
    *,
    stack: str = "web",
    kind: str = "plan",
    revision: str = SHA_A,
    plan_id: int | None = None,
    holder: str | None = None,
) -> int:
    return store.start_run(
        stack=stack, repository=REPO, revision=revision, kind=kind, plan_id=plan_id, holder=holder
    )


def test_start_then_finish_records_everything(store: Store, clock: Clock) -> None:
    started = clock.now
    run_id = store.start_run(
        stack="web", repository=REPO, revision=SHA_A, kind="apply",
        actor="alice", reason="release 1.2", plan_id=None, holder="host-1:42",
    )  # fmt: skip
    running = store.get_run(run_id)
    assert running is not None
    assert (running.status, running.started_at, running.finished_at) == ("running", started, None)
    assert (running.summary, running.changes, running.hosts, running.output, running.error) == (
        {},
        [],
        [],
        "",
        "",
    )
    assert not running.finished

    finished_at = clock.advance(3)
    store.finish_run(
        run_id, status="partial", summary={"add": 1, "change": 0}, changes=[{"address": "a.b", "action": "create"}],
        hosts=[{"host": "db1", "status": "unreachable"}], output="applied\n", error="db1 unreachable",
    )  # fmt: skip
    done = store.get_run(run_id)
    assert done is not None and done.finished
    assert done.status == "partial"
    assert done.started_at == started and done.finished_at == finished_at
    assert done.summary == {"add": 1, "change": 0}
    assert done.changes == [{"address": "a.b", "action": "create"}]
    assert done.hosts == [{"host": "db1", "status": "unreachable"}]
    assert (done.output, done.error) == ("applied\n", "db1 unreachable")
    assert (done.actor, done.reason, done.holder, done.revision, done.kind) == (
        "alice", "release 1.2", "host-1:42", SHA_A, "apply",
    )  # fmt: skip


def test_an_apply_remembers_the_plan_it_used(store: Store) -> None:
    plan_id = _start(store, kind="plan")
    store.finish_run(plan_id, status="succeeded")
    apply_id = _start(store, kind="apply", plan_id=plan_id)
    record = store.get_run(apply_id)
    assert record is not None and record.plan_id == plan_id


def test_core_enums_are_accepted_as_kind_and_status(store: Store) -> None:
    run_id = store.start_run(stack="web", repository=REPO, revision=SHA_A, kind=runs.RunKind.DRIFT)
    store.finish_run(run_id, status=runs.RunStatus.SUCCEEDED)
    record = store.get_run(run_id)
    assert record is not None and (record.kind, record.status) == ("drift", "succeeded")


def test_a_finished_run_is_never_changed(store: Store) -> None:
    run_id = _start(store)
    store.finish_run(run_id, status="failed", error="boom")
    with pytest.raises(StoreError, match=rf"run {run_id}: it already ended as failed"):
        store.finish_run(run_id, status="succeeded")
    record = store.get_run(run_id)
    assert record is not None and (record.status, record.error) == ("failed", "boom")


def test_finishing_an_unknown_run_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="run 4242: there is no such run"):
        store.finish_run(4242, status="succeeded")
    assert store.get_run(4242) is None


def test_record_run_inserts_a_finished_run(store: Store, clock: Clock) -> None:
    run_id = store.record_run(
        stack="db", repository=REPO, revision=SHA_B, kind="apply", status="skipped", error="dependency net failed",
        reason="dependency net failed",
    )  # fmt: skip
    record = store.get_run(run_id)
    assert record is not None
    assert (record.status, record.error, record.started_at, record.finished_at) == (
        "skipped", "dependency net failed", clock.now, clock.now,
    )  # fmt: skip
    with pytest.raises(ValueError, match="final run status"):
        store.record_run(stack="db", repository=REPO, revision=SHA_B, kind="apply", status="running")
    with pytest.raises(ValueError, match="before started_at"):
        store.record_run(
            stack="db", repository=REPO, revision=SHA_B, kind="apply", status="failed",
            started_at=clock.now, finished_at=clock.now - timedelta(seconds=1),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "destroy", "unknown run kind 'destroy'"),
        ("stack", "s" * 64, "stack name is 64 characters long, at most 63"),
        ("stack", "", "stack name must not be empty"),
        ("revision", "c" * 65, "revision is 65 characters long"),
        ("repository", "", "repository must not be empty"),
        ("plan_id", 0, "plan_id must be a run id"),
    ],
)
def test_bad_run_arguments_are_refused_before_anything_is_stored(
    store: Store, field: str, value: object, message: str
) -> None:
    args: dict[str, object] = {"stack": "web", "repository": REPO, "revision": SHA_A, "kind": "plan"}
    args[field] = value
    with pytest.raises(ValueError, match=message):
        store.start_run(**args)  # type: ignore[arg-type]
    assert store.count_runs() == 0


def test_finish_refuses_values_that_are_not_json(store: Store) -> None:
    run_id = _start(store)
    with pytest.raises(ValueError, match="summary is not JSON-compatible"):
        store.finish_run(run_id, status="succeeded", summary={"ratio": float("nan")})
    with pytest.raises(ValueError, match="changes is not JSON-compatible"):
        store.finish_run(run_id, status="succeeded", changes=[object()])
    with pytest.raises(ValueError, match="unknown final run status 'running'"):
        store.finish_run(run_id, status="running")
    record = store.get_run(run_id)
    assert record is not None and record.status == "running"


def test_list_filters_and_pages_newest_first(store: Store, clock: Clock) -> None:
    ids = []
    for stack, kind, status in [
        ("web", "plan", "succeeded"),
        ("db", "plan", "failed"),
        ("web", "apply", "succeeded"),
        ("web", "drift", "succeeded"),
        ("web", "apply", "failed"),
    ]:
        clock.advance()
        run_id = _start(store, stack=stack, kind=kind)
        store.finish_run(run_id, status=status)
        ids.append(run_id)
    other = store.record_run(
        stack="web", repository="https://other.test/x.git", revision=SHA_A, kind="plan", status="succeeded"
    )

    assert [r.id for r in store.list_runs(repository=REPO)] == ids[::-1]
    assert [r.id for r in store.list_runs()] == [other, *ids[::-1]]
    assert [r.id for r in store.list_runs(stack="web", repository=REPO)] == [ids[4], ids[3], ids[2], ids[0]]
    assert [r.id for r in store.list_runs(kind="apply")] == [ids[4], ids[2]]
    assert [r.id for r in store.list_runs(status="failed")] == [ids[4], ids[1]]
    assert [r.id for r in store.list_runs(stack="web", kind="apply", status="succeeded")] == [ids[2]]
    assert [r.id for r in store.list_runs(status=["failed", "succeeded"], repository=REPO)] == ids[::-1]

    page1 = store.list_runs(repository=REPO, limit=2)
    page2 = store.list_runs(repository=REPO, limit=2, offset=2)
    page3 = store.list_runs(repository=REPO, limit=2, offset=4)
    assert [r.id for r in page1 + page2 + page3] == ids[::-1]
    assert store.list_runs(repository=REPO, limit=2, offset=6) == []

    assert store.count_runs() == 6
    assert store.count_runs(repository=REPO) == 5
    assert store.count_runs(stack="web", status="succeeded") == 4
    assert store.count_runs(kind="drift") == 1
    with pytest.raises(ValueError, match="limit must be"):
        store.list_runs(limit=0)
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        store.list_runs(status="done")


def test_runs_started_in_the_same_instant_are_ordered_by_id(store: Store) -> None:
    first, second = _start(store), _start(store)
    assert [r.id for r in store.list_runs()] == [second, first]


def test_last_run_and_deployed_revision(store: Store, clock: Clock) -> None:
    assert store.last_run(repository=REPO, stack="web") is None
    assert store.deployed_revision(repository=REPO, stack="web") is None

    clock.advance()
    ok = _start(store, kind="apply", revision=SHA_A)
    store.finish_run(ok, status="succeeded")
    clock.advance()
    failed = _start(store, kind="apply", revision=SHA_B)
    store.finish_run(failed, status="failed")
    clock.advance()
    plan = _start(store, kind="plan", revision=SHA_B)

    assert store.deployed_revision(repository=REPO, stack="web") == SHA_A
    last = store.last_run(repository=REPO, stack="web")
    assert last is not None and last.id == plan
    last_apply = store.last_run(repository=REPO, stack="web", kind="apply")
    assert last_apply is not None and last_apply.id == failed
    last_good = store.last_run(repository=REPO, stack="web", kind="apply", statuses=["succeeded", "partial"])
    assert last_good is not None and last_good.id == ok
    assert store.last_run(repository=REPO, stack="db") is None
    assert store.deployed_revision(repository="https://other.test/x.git", stack="web") is None

    clock.advance()
    partial = _start(store, kind="apply", revision="c" * 40)
    store.finish_run(partial, status="partial")
    assert store.deployed_revision(repository=REPO, stack="web") == "c" * 40


def test_mark_interrupted_ends_runs_in_flight(store: Store, clock: Clock) -> None:
    mine = _start(store, holder="ctl-a")
    theirs = _start(store, stack="db", holder="ctl-b")
    done = _start(store, holder="ctl-a")
    store.finish_run(done, status="succeeded")
    nobody = _start(store, stack="net")

    stopped = clock.advance(60)
    assert store.mark_interrupted(holder="ctl-a") == [mine]
    record = store.get_run(mine)
    assert record is not None
    assert (record.status, record.finished_at) == ("interrupted", stopped)
    assert "interrupted" in record.error
    other = store.get_run(theirs)
    assert other is not None and other.status == "running"

    assert store.mark_interrupted() == [theirs, nobody]
    assert store.mark_interrupted() == []
    finished = store.get_run(done)
    assert finished is not None and finished.status == "succeeded"
    with pytest.raises(StoreError, match="already ended as interrupted"):
        store.finish_run(mine, status="succeeded")


def test_mark_interrupted_only_the_runs_named(store: Store) -> None:
    first = _start(store)
    second = _start(store, stack="db")
    done = _start(store, stack="net")
    store.finish_run(done, status="succeeded")
    assert store.mark_interrupted(run_ids=[]) == []
    assert store.mark_interrupted(run_ids=[second, done]) == [second]  # a finished run stays
    record = store.get_run(first)
    assert record is not None and record.status == "running"
    with pytest.raises(ValueError, match="run_ids must be a run id"):
        store.mark_interrupted(run_ids=[0])


def test_a_closed_store_refuses_work(store_url: str) -> None:
    opened = Store.open(store_url)
    opened.close()
    with pytest.raises(StoreError, match="is closed"):
        opened.list_runs()
