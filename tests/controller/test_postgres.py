"""The controller on PostgreSQL: the same reconcile, approval and recovery as on SQLite.

The store suite already runs on both databases; this checks that nothing the controller
does on top of it is SQLite-only (transactions, timestamps, JSON, concurrent writers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.store import database

pytestmark = [pytest.mark.postgres]


async def test_reconcile_approve_and_restart_on_postgresql(
    repo: GitRepo,
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine(), store_url=postgres_url)
    try:
        ctl = await harness.start()
        head = repo.head()
        assert harness.view("network").applied_revision == head
        assert harness.view("manual").sync_state == "pending-approval"

        run_id = await ctl.approve("manual", actor="alice")
        await harness.settle()
        run = ctl.store.get_run(run_id)
        assert run is not None and (run.status, run.actor) == ("succeeded", "alice")

        sha = repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
        await harness.advance(POLL)
        assert harness.view("network").applied_revision == sha
        assert ctl.store.backend == "postgresql"
    finally:
        await harness.stop()

    # A second controller on the same database sees what the first recorded.
    with database.Store.open(postgres_url) as store:
        applied = {s.name: s.applied_revision for s in store.list_stacks()}
    assert applied["network"] == sha and applied["manual"] == head
