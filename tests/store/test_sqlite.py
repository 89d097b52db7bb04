"""SQLite as a safe record: WAL, waiting writers, clear errors on locks and read-only paths."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from truenorth.store import Store, StoreError, sqlite_url


def _db(data_dir: Path) -> Path:
    return data_dir / "truenorth.db"


def test_sqlite_url_points_into_the_data_dir_and_the_folder_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "data dir"
    url = sqlite_url(data_dir)
    assert url == f"sqlite:///{data_dir}/truenorth.db"
    Store.open(url).close()
    assert _db(data_dir).is_file()
    with sqlite3.connect(_db(data_dir)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_writers_in_two_threads_never_see_database_is_locked(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    stores = [Store.open(url), Store.open(url)]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(store: Store, name: str) -> None:
        try:
            barrier.wait()
            for n in range(40):
                run_id = store.start_run(stack=name, repository="r", revision="a" * 40, kind="apply")
                store.append_log(run_id, [f"{name} {n}"])
                store.upsert_stack(repository="r", name=name, last_run_id=run_id)
                store.finish_run(run_id, status="succeeded", output=f"{name} {n}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(s, f"s{i}")) for i, s in enumerate(stores)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert stores[0].count_runs(status="succeeded") == 80
        assert stores[1].count_runs(stack="s0") == stores[1].count_runs(stack="s1") == 40
    finally:
        for store in stores:
            store.close()


@pytest.fixture
def locked_db(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """A migrated database whose write lock another connection holds."""
    url = sqlite_url(tmp_path)
    Store.open(url).close()
    holder = sqlite3.connect(_db(tmp_path), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield url, holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def test_a_writer_waits_for_the_lock_within_the_busy_timeout(
    locked_db: tuple[str, sqlite3.Connection],
) -> None:
    url, holder = locked_db
    # Opening migrates in a write transaction: open first, then take the lock again.
    holder.execute("ROLLBACK")
    # A generous busy timeout: a busy machine may resume this thread late to release the lock.
    opened = Store.open(url, busy_timeout=60)
    holder.execute("BEGIN IMMEDIATE")
    results: list[object] = []
    writer = threading.Thread(
        target=lambda: results.append(opened.start_run(stack="web", repository="r", revision="", kind="plan"))
    )
    try:
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive(), "the writer should be waiting for the lock, not finished or failed"
        holder.execute("COMMIT")
        writer.join(timeout=60)
        assert not writer.is_alive()
        assert len(results) == 1 and isinstance(results[0], int)
        assert opened.get_run(results[0]) is not None
    finally:
        opened.close()


def test_a_lock_held_past_the_busy_timeout_is_reported_as_locked(
    locked_db: tuple[str, sqlite3.Connection],
) -> None:
    url, holder = locked_db
    holder.execute("ROLLBACK")
    opened = Store.open(url, busy_timeout=0.2)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            opened.start_run(stack="web", repository="r", revision="", kind="plan")
        message = str(caught.value)
        assert "cannot record the start of a plan run of stack 'web': database is locked" in message
        assert str(Path(url.removeprefix("sqlite:///"))) in message
    finally:
        opened.close()
    holder.execute("ROLLBACK")
    with Store.open(url) as store:
        assert store.count_runs() == 0


# Opens a store in a child process; as root, first makes ``readonly`` a read-only bind
# mount in the child's own mount namespace (root ignores file permissions, so a chmod
# would prove nothing). The parent's view of the filesystem never changes.
_OPEN_IN_CHILD = textwrap.dedent(
    """
    import subprocess, sys
    from pathlib import Path
    readonly, data_dir = sys.argv[1], sys.argv[2]
    if readonly:
        subprocess.run(["mount", "--bind", readonly, readonly], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", readonly], check=True)
    from truenorth.store import Store, StoreError, sqlite_url
    try:
        Store.open(sqlite_url(Path(data_dir))).close()
    except StoreError as exc:
        print(exc)
        sys.exit(3)
    """
)


def _open_on_read_only(readonly: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Open a store at ``data_dir`` while ``readonly`` cannot be written."""
    if os.geteuid() == 0:
        argv = ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-c", _OPEN_IN_CHILD]
        argv += [str(readonly), str(data_dir)]
    else:
        for path in [readonly, *readonly.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        argv = [sys.executable, "-c", _OPEN_IN_CHILD, "", str(data_dir)]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    finally:
        for path in [readonly, *readonly.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_new_database_on_a_read_only_path_is_a_clear_error(tmp_path: Path) -> None:
    readonly = tmp_path / "ro"
    readonly.mkdir()
    done = _open_on_read_only(readonly, readonly)
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip()
    assert message.startswith("cannot open the state database and bring its schema up to date: ")
    assert "cannot open the database file: missing directory, read-only path or no permission" in message
    assert f"[database sqlite:///{readonly}/truenorth.db]" in message
    assert not _db(readonly).exists()


def test_an_existing_database_on_a_read_only_path_is_a_clear_error(tmp_path: Path) -> None:
    readonly = tmp_path / "ro"
    with Store.open(sqlite_url(readonly)) as store:
        store.start_run(stack="web", repository="r", revision="", kind="plan")
    done = _open_on_read_only(readonly, readonly)
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip()
    assert message.startswith("cannot open the state database and bring its schema up to date: ")
    assert ("read-only" in message) or ("cannot open the database file" in message), message
    assert f"[database sqlite:///{readonly}/truenorth.db]" in message
    with Store.open(sqlite_url(readonly)) as store:
        assert store.count_runs() == 1


def test_a_data_dir_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    readonly = tmp_path / "ro"
    readonly.mkdir()
    done = _open_on_read_only(readonly, readonly / "sub" / "data")
    assert done.returncode == 3, done.stderr
    expected = (
        f"cannot create the directory {readonly}/sub for the state database "
        f"sqlite:///{readonly}/sub/data/truenorth.db: "
    )
    assert done.stdout.strip() in (expected + "Read-only file system", expected + "Permission denied")
