"""Two controllers on one PostgreSQL store: one owns the repository, the other routes to it.

In-process controllers (the fake engine, each with its own data dir, a 2 s lease):
exactly one holds the repository's lease; an approval and a push webhook sent to the
other one are recorded in the database and done by the owner, which answers with the
run it started (a plan saved on another replica's disk: test_approval_across_replicas.py); stack locks
are database locks that another session's hold makes busy.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.controller.conftest import Harness
from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth import config
from truenorth.controller import errors
from truenorth.core import assignments
from truenorth.store import database

pytestmark = [pytest.mark.postgres]

LEASE = 2.0
DEADLINE = 60.0
STOP_DEADLINE = 120.0


@pytest.fixture
async def pair(repo: GitRepo, tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Harness, Harness]]:  # noqa: F811
    harnesses = (
        Harness(repo=repo, data_dir=tmp_path / "a", engine=FakeEngine(), store_url=postgres_url),
        Harness(repo=repo, data_dir=tmp_path / "b", engine=FakeEngine(), store_url=postgres_url),
    )
    for harness in harnesses:
        harness.build().sharing.lease = LEASE
    yield harnesses
    for harness in harnesses:
        try:  # a stop that hangs shows where, instead of the test timing out silently
            await asyncio.wait_for(asyncio.shield(harness.stop()), STOP_DEADLINE)
        except TimeoutError:
            for task in asyncio.all_tasks():
                task.print_stack(file=sys.stderr)
            raise


async def owner_and_other(pair: tuple[Harness, Harness]) -> tuple[Harness, Harness]:
    """Wait (real time: leases are the database's) until exactly one holds the repository."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        owners = [h for h in pair if h.ctl is not None and h.ctl.sharing.owns("infra")]
        if len(owners) == 1 and not any(h.ctl is not None and h.ctl.sharing._leaving for h in pair):
            owner = owners[0]
            assert owner.ctl is not None
            state = owner.ctl.sharing._repos["infra"]
            chosen = assignments.assign(
                replicas=[h.ctl.holder for h in pair if h.ctl is not None], repositories=[state.key]
            )
            if chosen.owner(state.key) != owner.ctl.holder or state.revision is None:
                await asyncio.sleep(0.05)  # it is to move, or has not loaded its revision yet
                continue
            other = pair[1] if owner is pair[0] else pair[0]
            await owner.settle()
            return owner, other
        await asyncio.sleep(0.05)
    raise AssertionError("no single owner of the repository")


async def test_actions_and_webhooks_sent_to_a_replica_that_does_not_own_the_repository(
    pair: tuple[Harness, Harness], repo: GitRepo
) -> None:
    for harness in pair:
        await harness.start()
    owner, other = await owner_and_other(pair)
    assert owner.ctl is not None and other.ctl is not None
    assert owner.view("manual").sync_state == "pending-approval"
    assert not other.ctl.sharing.running("infra")
    # Reads answer from the shared store on either replica.
    assert other.ctl.stack("manual").sync_state == "pending-approval"

    run_id = await other.ctl.approve("manual", actor="bob")  # routed: the owner applies
    await owner.until(lambda: owner.ctl is not None and owner.ctl.store.run_status(run_id) == "succeeded")
    run = owner.ctl.store.get_run(run_id)
    assert run is not None and run.actor == "bob" and run.kind == "apply"
    assert run.holder == owner.ctl.holder

    # A refusal travels back as the owner's error.
    with pytest.raises(errors.ControllerError) as refused:
        await other.ctl.approve("manual", actor="bob")
    assert refused.value.kind == errors.CONFLICT

    # A push webhook on the other replica wakes the owner at once (no poll: the clocks stand still).
    sha = repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    assert other.ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main", sha=sha) == ["infra"]
    await owner.until(lambda: owner.view("network").applied_revision == sha)
    assert other.ctl.stack("network").applied_revision == sha


async def test_a_stack_locked_by_another_session_is_busy_for_actions(pair: tuple[Harness, Harness]) -> None:
    for harness in pair:
        await harness.start()
    owner, _ = await owner_and_other(pair)
    assert owner.ctl is not None
    key = owner.ctl.sharing._repos["infra"].key
    with database.Store.open(owner.ctl.store.url) as elsewhere, elsewhere.stack_lock(key, "network"):
        with pytest.raises(errors.ControllerError) as busy:
            await owner.ctl.refresh("network", actor="alice")
        assert busy.value.kind == errors.CONFLICT
    run_id = await owner.ctl.refresh("network", actor="alice")  # free again
    assert run_id


def test_lease_seconds_comes_from_the_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "truenorth.toml"
    path.write_text('lease_seconds = "10s"\n')
    assert config.load_config(path, environ={}).lease_seconds == 10.0
    assert config.load_config(path, environ={"TRUENORTH_LEASE_SECONDS": "3"}).lease_seconds == 3.0
    assert config.load_config(None, environ={}).lease_seconds == 30.0
    path.write_text("lease_seconds = 0.5\n")
    with pytest.raises(config.ConfigError, match=r"lease_seconds: must be 1\.\.3600 seconds"):
        config.load_config(path, environ={})


async def test_stop_ends_a_wind_down_that_waits_for_an_operation(pair: tuple[Harness, Harness]) -> None:
    # A replica that lost a lease winds the repository down once its running operation
    # ends; a stop meanwhile must not leave that task behind (it would outlive the stop
    # and reach the shut-down executor).
    for harness in pair:
        await harness.start()
    owner, _ = await owner_and_other(pair)
    assert owner.ctl is not None
    applying = owner.engine.hold("manual")
    await owner.ctl.approve("manual", actor="alice")
    assert await asyncio.to_thread(applying.wait, DEADLINE)
    sharing = owner.ctl.sharing
    sharing._lose("infra")
    winding = sharing._leaving["infra"]
    await sharing.stop()
    assert winding.done()
    owner.engine.release("manual")
