"""Start, stop and readiness: a failing store, a stop in the middle of an apply."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.controller.conftest import POLL, Harness
from truenorth.store import database
from truenorth.store.errors import StoreError


class FailingStore:
    """The controller's real store, made to fail on demand like a full disk would."""

    def __init__(self, inner: database.Store) -> None:
        self.inner = inner
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute) or name == "close":
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.broken:
                raise StoreError(f"cannot {name}: disk full [database sqlite:///x]")
            return attribute(*args, **kwargs)

        return call


async def test_nothing_is_applied_while_the_store_fails_and_it_recovers(harness: Harness) -> None:
    ctl = harness.build()
    failing = FailingStore(ctl.store)
    ctl.runtime.store = failing  # type: ignore[assignment]
    await harness.start()
    assert ctl.is_ready()
    harness.engine.calls.clear()

    failing.broken = True
    sha = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    await harness.advance(POLL)
    assert not ctl.is_ready()
    assert harness.engine.calls == []  # no run row, no engine
    assert ctl.registry.get_sample_value("truenorth_store_errors_total") >= 1.0

    await harness.advance(5)  # still failing: retried, still nothing
    assert harness.engine.calls == []

    failing.broken = False
    await harness.advance(5)
    assert ctl.is_ready()
    assert harness.engine.kinds("network") == [("network", "plan"), ("network", "apply")]
    assert harness.view("network").applied_revision == sha


async def test_stop_cancels_a_running_apply_and_records_it(harness: Harness) -> None:
    ctl = await harness.start()
    store_dir = harness.data_dir
    started = harness.engine.hold("manual")
    run_id = await ctl.approve("manual", actor="alice")
    assert await asyncio.to_thread(started.wait, 60)

    async with asyncio.timeout(60):
        await harness.stop()

    with database.Store.open(database.sqlite_url(store_dir)) as store:
        run = store.get_run(run_id)
    assert run is not None and run.status == "cancelled"


async def test_readiness_waits_for_the_first_check(harness: Harness) -> None:
    ctl = harness.build()
    assert not ctl.is_ready()
    await harness.start()
    assert ctl.is_ready()


async def test_a_restart_plans_every_stack_again_and_applies_nothing_new(harness: Harness) -> None:
    await harness.start()
    head = harness.repo.head()
    applies = len(harness.runs("network", kind="apply"))
    await harness.stop()
    harness.engine.calls.clear()

    harness.build()
    await harness.start()  # a new process: nothing of the old one's memory
    assert [kind for _, kind in harness.engine.kinds()] == ["plan", "plan", "plan"]
    network = harness.view("network")
    assert (network.sync_state, network.applied_revision) == ("synced", head)
    assert network.applied_commit is not None and network.applied_commit.subject == "three stacks"
    assert len(harness.runs("network", kind="apply")) == applies
    assert harness.view("manual").sync_state == "pending-approval"
