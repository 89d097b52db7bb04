"""Stack outputs: recorded per stack, replaced as a set, sensitive ones sealed and never in clear."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.store.conftest import Clock
from truenorth.core import outputs
from truenorth.store import Store, StoreError, database_url, sealing, sqlite_url

REPO = "git.example.test/org/infra#main"
CANARY = "canary-output-secret-5d1e"
REVISION = "a" * 40


@pytest.fixture
def sealer(tmp_path: Path) -> sealing.Sealer:
    return sealing.Sealer.load(key_file=tmp_path / "keys" / sealing.KEY_FILENAME, environ={})


@pytest.fixture
def sealed_store(store_url: str, clock: Clock, sealer: sealing.Sealer) -> Iterator[Store]:
    opened = Store.open(store_url, clock=clock, sealer=sealer)
    try:
        yield opened
    finally:
        opened.close()


def _apply(store: Store, stack: str = "network") -> int:
    return store.start_run(stack=stack, repository=REPO, revision=REVISION, kind="apply")


def test_outputs_round_trip_and_a_sensitive_one_is_revealed_only_on_request(
    sealed_store: Store, clock: Clock
) -> None:
    run_id = _apply(sealed_store)
    sealed_store.replace_outputs(
        repository=REPO,
        stack="network",
        outputs=[
            outputs.Output("vpc_id", "vpc-123"),
            outputs.Output("db_password", CANARY, sensitive=True),
            outputs.Output("subnets", ["10.0.1.0/24", "10.0.2.0/24"]),
            outputs.Output("nothing", None),
        ],
        revision=REVISION,
        run_id=run_id,
    )
    found = sealed_store.stack_outputs(repository=REPO, stacks=["network", "hosts"])
    assert set(found) == {"network", "hosts"} and found["hosts"] == ()
    names = [record.name for record in found["network"]]
    assert names == ["db_password", "nothing", "subnets", "vpc_id"]
    password, nothing, subnets, vpc = found["network"]
    assert (vpc.value, vpc.sensitive, vpc.digest) == ("vpc-123", False, outputs.digest_of("vpc-123"))
    assert subnets.value == ["10.0.1.0/24", "10.0.2.0/24"]
    assert (nothing.value, nothing.digest) == (None, outputs.digest_of(None))
    assert (vpc.revision, vpc.run_id, vpc.updated_at) == (REVISION, run_id, clock.now)
    assert password.sensitive and password.value is None and password.sealed
    assert CANARY not in repr(password) and CANARY not in password.sealed
    assert password.digest != outputs.digest_of(CANARY) and len(password.digest) == 64
    assert sealed_store.reveal(password) == CANARY
    assert sealed_store.reveal(vpc) == "vpc-123"


def test_a_new_set_replaces_the_old_one_and_digests_are_stable(sealed_store: Store) -> None:
    first = _apply(sealed_store)
    items = [outputs.Output("a", 1), outputs.Output("b", "x"), outputs.Output("s", CANARY, sensitive=True)]
    sealed_store.replace_outputs(
        repository=REPO, stack="network", outputs=items, revision=REVISION, run_id=first
    )
    before = {r.name: r for r in sealed_store.stack_outputs(repository=REPO, stacks=["network"])["network"]}
    second = _apply(sealed_store)
    again = [outputs.Output("a", 1), outputs.Output("s", CANARY, sensitive=True), outputs.Output("c", True)]
    sealed_store.replace_outputs(
        repository=REPO, stack="network", outputs=again, revision="b" * 40, run_id=second
    )
    after = {r.name: r for r in sealed_store.stack_outputs(repository=REPO, stacks=["network"])["network"]}
    assert sorted(after) == ["a", "c", "s"]
    assert after["a"].digest == before["a"].digest and after["s"].digest == before["s"].digest
    assert after["s"].sealed != before["s"].sealed  # sealed anew, equal digest
    assert (after["a"].revision, after["a"].run_id) == ("b" * 40, second)
    sealed_store.replace_outputs(repository=REPO, stack="network", outputs=[], revision="c" * 40, run_id=None)
    assert sealed_store.stack_outputs(repository=REPO, stacks=["network"]) == {"network": ()}


def test_outputs_are_kept_per_repository_and_stack(sealed_store: Store) -> None:
    for repository, stack, value in [(REPO, "a", 1), (REPO, "b", 2), ("other#main", "a", 3)]:
        sealed_store.replace_outputs(
            repository=repository, stack=stack, outputs=[outputs.Output("x", value)], revision="", run_id=None
        )
    found = sealed_store.stack_outputs(repository=REPO, stacks=["a", "b", "a"])
    assert {name: [r.value for r in items] for name, items in found.items()} == {"a": [1], "b": [2]}
    assert sealed_store.stack_outputs(repository=REPO, stacks=[]) == {}


def test_deleting_a_stack_deletes_its_outputs_and_a_deleted_run_leaves_them(sealed_store: Store) -> None:
    run_id = _apply(sealed_store)
    sealed_store.upsert_stack(repository=REPO, name="network", engine="terraform")
    sealed_store.replace_outputs(
        repository=REPO, stack="network", outputs=[outputs.Output("x", 1)], revision=REVISION, run_id=run_id
    )
    sealed_store.replace_outputs(
        repository=REPO, stack="hosts", outputs=[outputs.Output("y", 2)], revision=REVISION, run_id=None
    )
    assert sealed_store.delete_stack(repository=REPO, name="network") is True
    found = sealed_store.stack_outputs(repository=REPO, stacks=["network", "hosts"])
    assert found["network"] == () and [r.value for r in found["hosts"]] == [2]


def test_a_sensitive_output_without_a_sealer_is_refused_and_nothing_changes(store: Store) -> None:
    store.replace_outputs(
        repository=REPO, stack="network", outputs=[outputs.Output("x", 1)], revision=REVISION, run_id=None
    )
    with pytest.raises(StoreError, match="cannot store the sensitive output 's' of stack 'network': the store has no sealing key") as caught:  # fmt: skip
        store.replace_outputs(
            repository=REPO,
            stack="network",
            outputs=[outputs.Output("y", 2), outputs.Output("s", CANARY, sensitive=True)],
            revision=REVISION,
            run_id=None,
        )
    assert CANARY not in str(caught.value)
    assert [r.name for r in store.stack_outputs(repository=REPO, stacks=["network"])["network"]] == ["x"]


def test_revealing_without_the_key_or_with_another_key_is_a_clear_error(
    store_url: str, tmp_path: Path, sealer: sealing.Sealer
) -> None:
    with Store.open(store_url, sealer=sealer) as first:
        first.replace_outputs(
            repository=REPO, stack="db", outputs=[outputs.Output("pw", CANARY, sensitive=True)], revision="",
            run_id=None,
        )  # fmt: skip
    other = sealing.Sealer.load(key_file=tmp_path / "other.key", environ={})
    with Store.open(store_url, sealer=other) as second:
        (record,) = second.stack_outputs(repository=REPO, stacks=["db"])["db"]
        with pytest.raises(sealing.SealingError, match="sealed with another key") as caught:
            second.reveal(record)
        assert CANARY not in str(caught.value)
        with pytest.raises(sealing.SealingError, match="'pw' has no sealed value"):
            second.reveal(dataclasses.replace(record, sealed=None))
    with Store.open(store_url) as third:
        (record,) = third.stack_outputs(repository=REPO, stacks=["db"])["db"]
        with pytest.raises(StoreError, match="the store has no sealing key"):
            third.reveal(record)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([outputs.Output("x", 1), outputs.Output("x", 2)], "given twice"),
        ([outputs.Output("", 1)], "output name must not be empty"),
        ([outputs.Output("x", {1, 2})], "is not a JSON value"),
        ([outputs.Output("x", float("nan"))], "is not a JSON value"),
        ([outputs.Output("x", "v" * (1024 * 1024 + 1))], "larger than 1048576 bytes"),
    ],
)
def test_bad_outputs_are_refused(sealed_store: Store, items: list[outputs.Output], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sealed_store.replace_outputs(repository=REPO, stack="s", outputs=items, revision="", run_id=None)


def test_the_sqlite_file_holds_no_clear_text_of_a_sensitive_output(
    tmp_path: Path, sealer: sealing.Sealer
) -> None:
    data_dir = tmp_path / "data"
    with Store.open(sqlite_url(data_dir), sealer=sealer) as store:
        store.replace_outputs(
            repository=REPO,
            stack="db",
            outputs=[outputs.Output("pw", {"user": "app", "password": CANARY}, sensitive=True),
                     outputs.Output("host", "db.internal")],
            revision=REVISION,
            run_id=None,
        )  # fmt: skip
        files = sorted(data_dir.glob("truenorth.db*"))
        raw = b"".join(path.read_bytes() for path in files)
        assert b"db.internal" in raw  # the bytes read are the database's (a non-sensitive value is there)
        assert CANARY.encode() not in raw
    with sqlite3.connect(data_dir / "truenorth.db") as conn:
        value, sealed = conn.execute("SELECT value, sealed FROM stack_outputs WHERE name = 'pw'").fetchone()
    assert value is None and CANARY not in sealed  # SQL NULL, not a JSON 'null'
    raw = b"".join(path.read_bytes() for path in sorted(data_dir.glob("truenorth.db*")))
    assert CANARY.encode() not in raw


@pytest.mark.postgres
def test_the_postgresql_row_holds_no_clear_text_of_a_sensitive_output(
    postgres_url: str, sealer: sealing.Sealer
) -> None:
    with Store.open(postgres_url, sealer=sealer) as store:
        store.replace_outputs(
            repository=REPO, stack="db", outputs=[outputs.Output("pw", CANARY, sensitive=True)],
            revision=REVISION, run_id=None,
        )  # fmt: skip
    url = database_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        rows = conn.execute("SELECT t::text, value IS NULL FROM stack_outputs AS t").fetchall()
    assert len(rows) == 1
    text, value_is_null = rows[0]
    assert value_is_null is True
    assert CANARY not in text and "pw" in text


def test_the_migration_down_drops_the_table_and_up_makes_it_again(tmp_path: Path) -> None:
    from alembic import command

    from truenorth.store import migrating

    url = sqlite_url(tmp_path)
    Store.open(url).close()
    engine = sa.create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            command.downgrade(migrating._config(conn), "0002")
        with engine.connect() as conn:
            assert "stack_outputs" not in sa.inspect(conn).get_table_names()
            assert migrating.current_revision(conn) == "0002"
    finally:
        engine.dispose()
    with Store.open(url) as store:
        store.replace_outputs(
            repository=REPO, stack="s", outputs=[outputs.Output("x", 1)], revision="", run_id=None
        )
        assert [r.value for r in store.stack_outputs(repository=REPO, stacks=["s"])["s"]] == [1]


def test_schema_0002_refuses_to_be_downgraded_and_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """0002 rewrote repository keys one way: going below it is refused with the reason, nothing changed."""
    from alembic import command
    from alembic.util import CommandError

    from truenorth.store import migrating

    url = sqlite_url(tmp_path)
    Store.open(url).close()
    engine = sa.create_engine(database_url(url))
    try:
        with pytest.raises(CommandError, match="schema 0002 cannot be downgraded"), engine.begin() as conn:
            command.downgrade(migrating._config(conn), "0001")
        with engine.connect() as conn:
            assert migrating.current_revision(conn) == migrating.HEAD
    finally:
        engine.dispose()
