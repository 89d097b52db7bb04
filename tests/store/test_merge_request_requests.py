"""Merge-request events in ``requests``: recorded once per delivery, whichever replica got it.

Migration 0005 adds the ``merge-request`` action and the ``dedup`` key, unique with the
repository. Both backends; on PostgreSQL two stores (two replicas' pools) race for one
delivery and exactly one records it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from alembic import command

from truenorth.store import Store, StoreError, database_url, migrating

REPO = "https://git.example/team/infra.git#main"
OTHER = "https://git.example/team/infra.git#staging"


def record(
    store: Store, *, dedup: str | None, repository: str = REPO, taken_by: str | None = None
) -> int | None:
    return store.request_once(
        repository=repository,
        action="merge-request",
        requested_by="replica-a",
        arguments={"event": {"number": 7}},
        dedup=dedup,
        taken_by=taken_by,
    )


def test_a_delivery_is_recorded_once_per_repository(store: Store) -> None:
    first = record(store, dedup="github:d-1")
    assert first is not None
    assert record(store, dedup="github:d-1") is None, "a redelivery is refused"
    assert record(store, dedup="github:d-1", repository=OTHER) is not None, "another branch is its own"
    assert record(store, dedup="github:d-2") is not None
    assert record(store, dedup=None) is not None and record(store, dedup=None) is not None
    found = store.get_request(first)
    assert found is not None and found.dedup == "github:d-1" and found.action == "merge-request"
    assert found.status == "pending" and found.taken_by is None


def test_work_a_replica_does_itself_is_recorded_taken_and_never_handed_out(store: Store) -> None:
    mine = record(store, dedup="github:d-9", taken_by="replica-a")
    assert mine is not None
    found = store.get_request(mine)
    assert found is not None and found.status == "taken" and found.taken_by == "replica-a"
    assert store.take_requests(replica="replica-b", repositories=[REPO]) == []
    assert record(store, dedup="github:d-9") is None, "a redelivery to another replica finds it"
    assert store.finish_request(mine, status="done", outcome={"result": "previewing"})


def test_a_delivery_id_over_the_bound_is_a_clear_error(store: Store) -> None:
    with pytest.raises((StoreError, ValueError), match="delivery id"):
        record(store, dedup="x" * 300)


@pytest.mark.postgres
def test_two_replicas_racing_for_one_delivery_record_it_once(postgres_url: str) -> None:
    stores = [Store.open(postgres_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(lambda n: record(stores[n % 4], dedup="gitlab:uuid-1"), range(16)))
    finally:
        for store in stores:
            store.close()
    assert len([item for item in found if item is not None]) == 1


def insert(action: str) -> sa.TextClause:
    return sa.text(
        "INSERT INTO requests (repository, stack, action, arguments, requested_by, requested_at, status, "
        "outcome) VALUES ('r', '', :action, '{}', 'a', CURRENT_TIMESTAMP, 'pending', '{}')"
    ).bindparams(action=action)


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    Store.open(store_url).close()
    made = sa.create_engine(database_url(store_url))
    try:
        yield made
    finally:
        made.dispose()


def test_the_database_refuses_unknown_actions_and_a_downgrade_forgets_merge_requests(
    store_url: str, engine: sa.Engine
) -> None:
    with Store.open(store_url) as store:
        assert record(store, dedup="github:d-1") is not None
        store.request(repository=REPO, action="fetch", requested_by="replica-a")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(insert("bogus"))
    with engine.begin() as connection:
        config = migrating._config(connection)
        command.downgrade(config, "0004")
        assert connection.execute(sa.text("SELECT action FROM requests")).scalars().all() == ["fetch"]
        with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
            connection.execute(insert("merge-request"))
        command.upgrade(config, "head")
    with Store.open(store_url) as store:
        assert record(store, dedup="github:d-1") is not None, "its key went with it"
