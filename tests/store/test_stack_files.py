"""Stack files: the engine state files replicas share (the Kubernetes inventory), on both backends."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tests.store.conftest import Clock
from truenorth.store import Store, StoreError, copying, database_url, filing, migrating, sqlite_url

REPO = "git.example.test/org/shop#main"
INVENTORY = "kubernetes-inventory.json"


def test_a_file_is_kept_read_back_and_written_only_when_it_changed(store: Store, clock: Clock) -> None:
    first = b'{"objects": ["v1/ConfigMap/shop/web"]}\n'
    assert store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=first) is True
    written_at = clock.now
    clock.advance(60)
    assert store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=first) is False
    (record,) = store.stack_files(repository=REPO, stack="web")
    assert (record.repository, record.stack, record.name) == (REPO, "web", INVENTORY)
    assert record.content == first and record.digest == hashlib.sha256(first).hexdigest()
    assert record.updated_at == written_at, "an unchanged file is not written again"
    assert first.decode() not in repr(record)

    second = b'{"objects": []}\n'
    assert store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=second) is True
    (record,) = store.stack_files(repository=REPO, stack="web")
    assert (record.content, record.updated_at) == (second, clock.now)


def test_files_are_per_repository_and_stack_in_name_order_and_deleted_one_by_one(store: Store) -> None:
    store.put_stack_file(repository=REPO, stack="web", name="b.json", content=b"b")
    store.put_stack_file(repository=REPO, stack="web", name="a.json", content=b"\x00\xff binary")
    store.put_stack_file(repository=REPO, stack="api", name="a.json", content=b"api")
    store.put_stack_file(repository=REPO.replace("#main", "#dev"), stack="web", name="a.json", content=b"dev")
    found = store.stack_files(repository=REPO, stack="web")
    assert [(r.name, r.content) for r in found] == [("a.json", b"\x00\xff binary"), ("b.json", b"b")]
    assert store.stack_files(repository=REPO, stack="nothing") == []
    assert store.delete_stack_file(repository=REPO, stack="web", name="a.json") is True
    assert store.delete_stack_file(repository=REPO, stack="web", name="a.json") is False
    assert [r.name for r in store.stack_files(repository=REPO, stack="web")] == ["b.json"]
    assert [r.content for r in store.stack_files(repository=REPO, stack="api")] == [b"api"]


def test_content_is_bounded_at_four_mebibytes(store: Store) -> None:
    largest = b"x" * filing.MAX_FILE_BYTES
    assert store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=largest)
    with pytest.raises(
        ValueError, match=r"is 4194305 bytes: the store keeps at most 4194304 bytes \(4 MiB\)"
    ):
        store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=largest + b"x")
    with pytest.raises(ValueError, match="must be bytes"):
        store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content="text")  # type: ignore[arg-type]
    (record,) = store.stack_files(repository=REPO, stack="web")
    assert len(record.content) == filing.MAX_FILE_BYTES


@pytest.mark.parametrize(
    "name", ["a/b", "../x", "..", ".", ".hidden", "", "x\x00y", "dir\\file", "x" * 256, "a b", "é"]
)
def test_a_name_that_is_not_a_plain_file_name_is_refused(store: Store, name: str) -> None:
    with pytest.raises(ValueError, match="stack file name"):
        store.put_stack_file(repository=REPO, stack="web", name=name, content=b"x")
    with pytest.raises(ValueError, match="stack file name"):
        store.delete_stack_file(repository=REPO, stack="web", name=name)
    assert store.stack_files(repository=REPO, stack="web") == []


def test_the_migration_down_drops_the_table_and_up_makes_it_again(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=b"{}")
    engine = sa.create_engine(database_url(store_url))
    try:
        with engine.begin() as conn:
            command.downgrade(migrating._config(conn), "0005")
        with engine.connect() as conn:
            assert "stack_files" not in sa.inspect(conn).get_table_names()
            assert migrating.current_revision(conn) == "0005"
    finally:
        engine.dispose()
    with Store.open(store_url) as store:
        assert store.stack_files(repository=REPO, stack="web") == []
        assert store.put_stack_file(repository=REPO, stack="web", name=INVENTORY, content=b"{}")


@pytest.mark.postgres
def test_store_migrate_copies_the_files_and_refuses_a_target_holding_some(
    tmp_path: Path, postgres_url: str
) -> None:
    source = sqlite_url(tmp_path / "data")
    big = bytes(range(256)) * (filing.MAX_FILE_BYTES // 256)  # more than one small batch's worth of bytes
    with Store.open(source) as store:
        for n in range(20):  # more than one batch of files
            store.put_stack_file(repository=REPO, stack=f"s{n:02d}", name=INVENTORY, content=f"{n}".encode())
        store.put_stack_file(repository=REPO, stack="big", name=INVENTORY, content=big)
    copied = copying.copy_store(source, postgres_url)
    assert copied.counts["stack_files"] == 21
    with Store.open(postgres_url) as target, Store.open(source) as original:
        for stack in ["big", *(f"s{n:02d}" for n in range(20))]:
            assert target.stack_files(repository=REPO, stack=stack) == original.stack_files(
                repository=REPO, stack=stack
            )
    # The target holds no run and no stack, only files: still not an empty store.
    with pytest.raises(StoreError, match="already holds stack_files"):
        copying.copy_store(source, postgres_url)
