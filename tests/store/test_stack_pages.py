"""The overview's reads: every stack's states in one query, a page of stacks joined with their last runs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.store.conftest import Clock
from truenorth.store import Store
from truenorth.store.records import RunBrief

INFRA = "https://git.example.test/org/infra.git#main"
OTHER = "https://git.example.test/org/other.git#main"


def test_stack_states_are_the_short_columns_of_the_asked_repositories_by_name(store: Store) -> None:
    store.upsert_stack(
        repository=INFRA, name="web", engine="terraform", sync_state="failed", health="Degraded"
    )
    store.upsert_stack(repository=INFRA, name="db", engine="ansible")
    store.upsert_stack(repository=OTHER, name="app", engine="kubernetes", sync_state="synced")
    found = store.stack_states(repositories=[INFRA])
    assert [(b.repository, b.name, b.engine, b.sync_state, b.health) for b in found] == [
        (INFRA, "db", "ansible", "unknown", "Unknown"),
        (INFRA, "web", "terraform", "failed", "Degraded"),
    ]
    assert [b.name for b in store.stack_states(repositories=[OTHER, INFRA, OTHER])] == ["db", "web", "app"]
    assert store.stack_states(repositories=[]) == []
    assert store.stack_states(repositories=["https://nowhere.test/x.git#main"]) == []


def test_a_stack_page_joins_each_stack_with_its_last_run_in_the_asked_order(
    store: Store, clock: Clock
) -> None:
    plan = store.start_run(stack="web", repository=INFRA, revision="a" * 40, kind="plan")
    clock.advance()
    store.finish_run(plan, status="succeeded", output="x" * 1000)
    store.upsert_stack(repository=INFRA, name="web", engine="terraform", last_run_id=plan, error="boom")
    running = store.start_run(stack="app", repository=OTHER, revision="b" * 40, kind="apply")
    store.upsert_stack(repository=OTHER, name="app", engine="terraform", last_run_id=running)
    store.upsert_stack(repository=INFRA, name="db", engine="ansible")  # never ran

    page = store.stack_page(stacks=[(OTHER, "app"), (INFRA, "nope"), (INFRA, "web"), (INFRA, "db")])
    assert [(o.stack.repository, o.stack.name) for o in page] == [
        (OTHER, "app"),
        (INFRA, "web"),
        (INFRA, "db"),
    ]
    app, web, db = page
    assert web.stack == store.get_stack(repository=INFRA, name="web")
    assert web.stack.error == "boom"
    started = clock.now.replace(second=clock.now.second - 1)
    assert web.last_run == RunBrief(
        id=plan, kind="plan", status="succeeded", started_at=started, finished_at=clock.now
    )
    assert app.last_run == RunBrief(
        id=running, kind="apply", status="running", started_at=clock.now, finished_at=None
    )
    assert db.last_run is None
    assert store.stack_page(stacks=[]) == []


def test_a_stack_page_is_one_statement_and_bounded(store: Store) -> None:
    for n in range(30):
        run = store.record_run(
            stack=f"s{n}", repository=INFRA, revision="a" * 40, kind="plan", status="succeeded"
        )
        store.upsert_stack(repository=INFRA, name=f"s{n}", engine="terraform", last_run_id=run)
    statements: list[str] = []

    def count(*args: object) -> None:
        if not str(args[2]).upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(str(args[2]))

    sa.event.listen(sa.Engine, "before_cursor_execute", count)
    try:
        page = store.stack_page(stacks=[(INFRA, f"s{n}") for n in range(30)])
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", count)
    assert len(page) == 30 and all(o.last_run is not None for o in page)
    assert len(statements) == 1 and " JOIN " in statements[0].upper()
    with pytest.raises(ValueError, match="at most 10000 stacks"):
        store.stack_page(stacks=[(INFRA, f"s{n}") for n in range(10_001)])


def test_run_status_reads_only_the_status(store: Store) -> None:
    run_id = store.start_run(stack="web", repository=INFRA, revision="a" * 40, kind="plan")
    assert store.run_status(run_id) == "running"
    store.finish_run(run_id, status="failed", error="boom")
    assert store.run_status(run_id) == "failed"
    assert store.run_status(run_id + 1) is None


def test_stack_states_can_keep_only_one_sync_state_and_a_health_containing_a_text(store: Store) -> None:
    store.upsert_stack(
        repository=INFRA, name="web", engine="terraform", sync_state="failed", health="Degraded"
    )
    store.upsert_stack(repository=INFRA, name="db", engine="ansible", sync_state="failed", health="degraded ")
    store.upsert_stack(repository=INFRA, name="app", engine="ansible", sync_state="synced", health="Degraded")
    store.upsert_stack(repository=OTHER, name="job", engine="ansible", sync_state="failed", health="Healthy")

    def keys(**filters: str) -> list[tuple[str, str]]:
        return [(b.repository, b.name) for b in store.stack_states(repositories=[INFRA, OTHER], **filters)]

    assert keys(sync_state="failed") == [(INFRA, "db"), (INFRA, "web"), (OTHER, "job")]
    assert keys(health_contains="degraded") == [(INFRA, "app"), (INFRA, "db"), (INFRA, "web")]
    assert keys(sync_state="failed", health_contains="degraded") == [(INFRA, "db"), (INFRA, "web")]
    assert keys(health_contains="%") == []  # a text, never a pattern


def test_state_counts_group_the_named_stacks_of_each_repository(store: Store) -> None:
    for name, state in (("a", "synced"), ("b", "synced"), ("c", "failed"), ("gone", "synced")):
        store.upsert_stack(
            repository=INFRA, name=name, engine="terraform", sync_state=state, health="Healthy"
        )
    store.upsert_stack(repository=OTHER, name="x", engine="ansible")
    store.upsert_stack(repository=OTHER, name="y", engine="ansible", sync_state="synced", health="Healthy")

    # infra declares a, b, c and "new" (never recorded); "gone" is recorded but no longer declared.
    found = store.state_counts(repositories={INFRA: ["a", "b", "c", "new", 'it\'s "quoted"'], OTHER: None})
    assert sorted(found) == [
        (INFRA, "failed", "Healthy", 1),
        (INFRA, "synced", "Healthy", 2),
        (OTHER, "synced", "Healthy", 1),
        (OTHER, "unknown", "Unknown", 1),
    ]
    assert store.state_counts(repositories={INFRA: [], OTHER: ["nope"]}) == []
    assert store.state_counts(repositories={}) == []
    many = [f"s-{n:05d}" for n in range(5000)] + ["c"]  # one parameter, however many names
    assert store.state_counts(repositories={INFRA: many}) == [(INFRA, "failed", "Healthy", 1)]
