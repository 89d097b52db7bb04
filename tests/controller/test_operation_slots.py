"""A pass that finds many stacks due holds at most ``workers`` stack locks at once.

On PostgreSQL each held stack lock is a database session of its own (and a file
descriptor). The scale-out benchmark found a controller converging 1,000 new stacks
holding 1,008 sessions (PostgreSQL refuses past ``max_connections``, 100 by default, and
``select()`` fails past descriptor 1023): every due stack's task took its lock first and
then waited for one of a few engine workers. Now a reconcile operation takes one of
``workers`` slots before its lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.controller.conftest import Harness
from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

STACKS = 12
WORKERS = 2


def _many_stacks() -> dict[str, str]:
    files = {f"stacks/s{index}/main.tf": f"# stack {index}\n" for index in range(STACKS)}
    listed = "".join(
        f"  - name: s{index}\n    engine: terraform\n    path: stacks/s{index}\n    auto_apply: true\n"
        for index in range(STACKS)
    )
    files["truenorth.yaml"] = f"version: 1\nstacks:\n{listed}"
    return files


class _Counting:
    """Wraps a lock's acquire/release to count how many are held at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.taken = 0
        self._lock = threading.Lock()

    def wrap(self, held: Any) -> Any:
        acquire, release = held.acquire, held.release

        def counted_acquire() -> None:
            acquire()
            with self._lock:
                self.now += 1
                self.taken += 1
                self.most = max(self.most, self.now)

        def counted_release() -> None:
            with self._lock:
                self.now -= 1
            release()

        held.acquire, held.release = counted_acquire, counted_release
        return held


async def test_a_pass_with_many_due_stacks_holds_at_most_workers_database_locks(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    source = GitRepo(tmp_path / "source")
    source.commit("many stacks", _many_stacks())
    harness = Harness(
        repo=source, data_dir=tmp_path / "data", engine=FakeEngine(), store_url=postgres_url, workers=WORKERS
    )
    ctl = harness.build()
    database = ctl.context.locks.database
    assert database is not None, "on PostgreSQL every stack operation takes a database lock"
    counting = _Counting()
    ctl.context.locks.database = lambda key, **kwargs: counting.wrap(database(key, **kwargs))
    try:
        await harness.start()
        await harness.until(lambda: all(harness.runs(f"s{index}", kind="apply") for index in range(STACKS)))
    finally:
        await harness.stop()

    assert counting.taken >= STACKS  # every stack was planned and applied under its lock
    assert counting.most <= WORKERS, f"{counting.most} stack locks (database sessions) held at once"
