"""Stack state: the controller's current view of each stack, created and updated in place."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.store.conftest import Clock
from truenorth.store import Store, StoreError

REPO = "https://git.example.test/org/infra.git"


def test_a_new_stack_gets_defaults_for_fields_not_given(store: Store, clock: Clock) -> None:
    record = store.upsert_stack(repository=REPO, name="web", engine="terraform")
    assert record.repository == REPO and record.name == "web"
    assert (record.engine, record.sync_state, record.health, record.error) == (
        "terraform",
        "unknown",
        "Unknown",
        "",
    )
    assert (record.applied_revision, record.applied_at, record.last_run_id, record.pending_plan_id) == (
        None, None, None, None,
    )  # fmt: skip
    assert record.updated_at == clock.now
    assert store.get_stack(repository=REPO, name="web") == record


def test_an_update_changes_only_the_given_fields(store: Store, clock: Clock) -> None:
    run_id = store.start_run(stack="web", repository=REPO, revision="a" * 40, kind="apply")
    store.upsert_stack(repository=REPO, name="web", engine="terraform", sync_state="applying")
    applied_at = clock.advance(5)
    record = store.upsert_stack(
        repository=REPO, name="web", sync_state="synced", applied_revision="a" * 40, applied_at=applied_at,
        last_run_id=run_id, pending_plan_id=run_id, error="previous failure",
    )  # fmt: skip
    assert record.engine == "terraform"
    assert (record.sync_state, record.applied_revision, record.applied_at) == ("synced", "a" * 40, applied_at)
    assert (record.last_run_id, record.pending_plan_id, record.error) == (run_id, run_id, "previous failure")
    assert record.updated_at == applied_at

    clock.advance()
    cleared = store.upsert_stack(
        repository=REPO, name="web", pending_plan_id=None, error=None, health="healthy"
    )
    assert (cleared.pending_plan_id, cleared.error, cleared.health) == (None, "", "healthy")
    assert (cleared.last_run_id, cleared.applied_revision, cleared.sync_state) == (run_id, "a" * 40, "synced")
    assert cleared.updated_at == clock.now


def test_stacks_are_listed_by_repository_and_name(store: Store) -> None:
    store.upsert_stack(repository="https://b.test/x.git", name="app")
    store.upsert_stack(repository=REPO, name="web")
    store.upsert_stack(repository=REPO, name="db")
    listed = [(s.repository, s.name) for s in store.list_stacks()]
    assert listed == [("https://b.test/x.git", "app"), (REPO, "db"), (REPO, "web")]
    assert [s.name for s in store.list_stacks(repository=REPO)] == ["db", "web"]
    assert store.get_stack(repository=REPO, name="nope") is None


def test_delete_forgets_the_state_but_keeps_the_runs(store: Store) -> None:
    run_id = store.start_run(stack="web", repository=REPO, revision="a" * 40, kind="plan")
    store.upsert_stack(repository=REPO, name="web", last_run_id=run_id)
    assert store.delete_stack(repository=REPO, name="web") is True
    assert store.delete_stack(repository=REPO, name="web") is False
    assert store.get_stack(repository=REPO, name="web") is None
    assert store.get_run(run_id) is not None


def test_bad_stack_fields_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown stack field"):
        store.upsert_stack(repository=REPO, name="web", colour="blue")
    with pytest.raises(ValueError, match="applied_at must be timezone-aware"):
        store.upsert_stack(repository=REPO, name="web", applied_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="last_run_id must be a run id"):
        store.upsert_stack(repository=REPO, name="web", last_run_id="7")
    assert store.list_stacks() == []


def test_a_reference_to_a_missing_run_breaks_a_constraint(store: Store) -> None:
    # On SQLite this holds only because every connection turns foreign_keys on.
    with pytest.raises(
        StoreError, match="update the state of stack 'web': a database constraint was violated"
    ):
        store.upsert_stack(repository=REPO, name="web", last_run_id=777)
    assert store.get_stack(repository=REPO, name="web") is None
