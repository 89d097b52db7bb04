"""Whether the store can record anything: a write probe, and "read-only" said as such.

A database can keep answering reads while it refuses every write (its file made
immutable, its file system remounted read-only after an error). The controller probes
with :meth:`Store.check_writable` before it says the store works again, and SQLite's
"disk I/O error" for a file that stopped taking writes is reported as read-only.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from truenorth.store import Store, StoreError, sqlite_url


def test_check_writable_commits_nothing_visible(store: Store) -> None:
    run_id = store.start_run(stack="web", repository="r", revision="", kind="plan")
    store.check_writable()
    store.check_writable()
    assert store.count_runs() == 1
    run = store.get_run(run_id)
    assert run is not None and run.status == "running"


def _chattr(flag: str, paths: list[Path]) -> bool:
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[tuple[Store, list[Path]]]:
    """An open SQLite store whose database file and write-ahead log can then be frozen."""
    if os.geteuid() != 0:
        pytest.skip("making an open file refuse writes needs root (chattr +i)")
    store = Store.open(sqlite_url(tmp_path))
    store.start_run(stack="web", repository="r", revision="", kind="plan")
    db = tmp_path / "truenorth.db"
    files = [db, db.with_name("truenorth.db-wal")]  # never the -shm: SQLite maps it
    try:
        yield store, files
    finally:
        _chattr("-i", files)
        store.close()


def test_a_database_file_refusing_writes_is_reported_read_only(
    immutable: tuple[Store, list[Path]],
) -> None:
    store, files = immutable
    if not _chattr("+i", files):
        pytest.skip("this file system has no immutable attribute")
    assert store.count_runs() == 1  # reads still work: a read proves nothing
    with pytest.raises(StoreError) as caught:
        store.check_writable()
    message = str(caught.value)
    assert message.startswith("cannot write to the state database: the database is read-only")
    assert "disk I/O error" in message  # SQLite's own words stay, as detail
    with pytest.raises(StoreError, match="read-only"):
        store.start_run(stack="web", repository="r", revision="", kind="plan")

    assert _chattr("-i", files)
    store.check_writable()
    store.start_run(stack="web", repository="r", revision="", kind="plan")
    assert store.count_runs() == 2
