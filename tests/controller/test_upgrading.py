"""Upgrading a data dir whose records and engine state were kept per URL, not per (URL, branch).

The store's migration gives old records to the ``main`` branch; the engine state folder,
named after the old key, is taken over by the entry tracking ``main`` on its first run.
Nothing is planned as new, nothing is applied again: Terraform state and Kubernetes
inventories survive the upgrade.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.controller.engines import STATE_FILE, FakeEngine, folder_digest, read_state
from tests.support.gitrepos import GitRepo
from tests.support.layouts import state_dir
from tests.support.legacy import OldStore
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks
from truenorth.controller.runs import layout, registry
from truenorth.git import urls
from truenorth.store import sqlite_url

ONE = "stacks:\n  - name: web\n    engine: terraform\n    path: s\n    auto_apply: true\n"


async def test_the_main_entry_keeps_its_history_and_engine_state_after_the_upgrade(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "src")
    head = repo.commit("web", {"truenorth.yaml": ONE, "s/x": "1"})
    data = tmp_path / "data"
    # What the previous version left: records and a state folder under the URL as written.
    written = urls.redact(urls.to_url(repo.url))
    old = OldStore(sqlite_url(data))
    try:
        run_id = old.add_run(repository=written, stack="web", revision=head)
        old.add_stack(repository=written, name="web", applied_revision=head, last_run_id=run_id)
    finally:
        old.close()
    legacy = data / "state" / layout.legacy_repository_dir(written) / "web"
    legacy.mkdir(parents=True)
    (legacy / STATE_FILE).write_text(json.dumps({"digest": folder_digest(repo.path / "s"), "revision": head}))

    engine = FakeEngine()
    settings = config.ControllerConfig(
        repositories=(config.RepositoryConfig(name="infra", url=repo.url, branch="main"),), data_dir=data
    )
    ctl = facade.Controller(
        settings, clock=clocks.FakeClock(), engines=registry.EngineRegistry({"terraform": engine})
    )
    try:
        await ctl.start()
        async with asyncio.timeout(30):
            await ctl.wait_idle()
        view = ctl.stack("web")
        assert (view.sync_state, view.applied_revision) == ("synced", head)
        assert view.last_run is not None
        # Planned once (a restart plans again), found nothing to change, applied nothing.
        assert engine.kinds("web") == [("web", "plan")]
        assert read_state(state_dir(data, repo.url, "web"))["revision"] == head
        assert not legacy.parent.exists()
    finally:
        await ctl.stop()
