"""The reconcile loop with a real Git repository, a fake clock and the in-test engine."""

from __future__ import annotations

import asyncio

from tests.controller.conftest import POLL, Harness
from truenorth.core.states import Health


async def test_first_start_applies_auto_stacks_in_order_and_holds_the_others(harness: Harness) -> None:
    ctl = await harness.start()
    head = harness.repo.head()

    network, app, manual = harness.view("network"), harness.view("app"), harness.view("manual")
    assert (network.sync_state, network.applied_revision, network.health) == ("synced", head, Health.HEALTHY)
    assert (app.sync_state, app.applied_revision) == ("synced", head)
    assert app.depends_on == ("network",)
    assert manual.sync_state == "pending-approval"
    assert manual.applied_revision is None
    assert manual.health is Health.UNKNOWN
    assert manual.pending_plan_run_id is not None
    plan = ctl.current_plan("manual")
    assert plan is not None and plan.id == manual.pending_plan_run_id and plan.revision == head
    # Dependency order: network is applied before app is even planned (manual, independent,
    # may run alongside).
    assert [k for k in harness.engine.kinds() if k[0] != "manual"] == [
        ("network", "plan"),
        ("network", "apply"),
        ("app", "plan"),
        ("app", "apply"),
    ]
    assert network.applied_commit is not None
    assert network.applied_commit.sha == head
    assert network.applied_commit.subject == "three stacks"
    assert network.desired_revision == head
    [repository] = ctl.repositories()
    assert (repository.revision, repository.source_error) == (head, None)
    assert repository.last_check_at is not None and repository.last_fetch_at is not None
    assert ctl.is_ready()


async def test_a_new_commit_converges_within_one_poll_interval(harness: Harness) -> None:
    await harness.start()
    sha = harness.repo.commit("bigger network", {"stacks/network/main.txt": "network v2\n"})

    await harness.advance(POLL / 2)
    assert harness.view("network").applied_revision != sha  # not polled yet

    await harness.advance(POLL / 2)
    assert harness.view("network").applied_revision == sha
    assert harness.view("network").sync_state == "synced"


async def test_a_burst_of_pushes_is_one_fetch(harness: Harness) -> None:
    ctl = await harness.start()
    assert harness.cache is not None
    fetches = harness.cache.fetches
    sha = harness.repo.commit("app v2", {"stacks/app/main.txt": "app v2\n"})

    for _ in range(20):
        assert ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main") == ["infra"]
    await harness.settle()

    assert harness.cache.fetches == fetches + 1
    assert harness.view("app").applied_revision == sha


async def test_pushes_to_other_branches_or_repositories_trigger_nothing(harness: Harness) -> None:
    ctl = await harness.start()
    assert harness.cache is not None
    checks = harness.cache.ls_remotes

    assert ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/feature") == []
    assert ctl.push_received(repository_urls=[harness.repo.url], ref="refs/tags/main") == []
    assert ctl.push_received(repository_urls=["https://example.com/other/repo.git"], ref="main") == []
    await harness.settle()
    assert harness.cache.ls_remotes == checks

    # Every spelling of the tracked repository matches (path, file URL).
    assert ctl.push_received(repository_urls=[str(harness.repo.path)], ref="main") == ["infra"]
    await harness.settle()
    assert harness.cache.ls_remotes == checks + 1


async def test_only_impacted_stacks_are_planned(harness: Harness) -> None:
    await harness.start()
    engine = harness.engine
    engine.calls.clear()

    harness.repo.commit("docs only", {"README.md": "hello\n"})
    await harness.advance(POLL)
    assert engine.calls == []

    sha = harness.repo.commit("app only", {"stacks/app/main.txt": "app v2\n"})
    await harness.advance(POLL)
    assert engine.kinds() == [("app", "plan"), ("app", "apply")]
    assert harness.view("app").applied_revision == sha

    engine.calls.clear()
    sha = harness.repo.commit("network only", {"stacks/network/main.txt": "network v2\n"})
    await harness.advance(POLL)
    # network changed and was applied: app, whose dependency moved, is planned again after it.
    assert engine.kinds() == [("network", "plan"), ("network", "apply"), ("app", "plan")]
    assert harness.view("app").sync_state == "synced"
    assert harness.view("app").applied_revision != sha  # nothing of its own changed


async def test_a_spec_entry_change_plans_that_stack(harness: Harness) -> None:
    await harness.start()
    harness.engine.calls.clear()
    spec = harness.repo.path.joinpath("truenorth.yaml").read_text()
    harness.repo.commit("manual now auto", {"truenorth.yaml": spec + "    auto_apply: true\n"})
    await harness.advance(POLL)
    assert harness.engine.kinds() == [("manual", "plan"), ("manual", "apply")]
    assert harness.view("manual").sync_state == "synced"
    assert harness.view("manual").auto_apply is True


async def test_operations_wait_for_a_free_worker(harness: Harness) -> None:
    harness.workers = 1
    ctl = await harness.start()
    held = harness.engine.hold("manual")
    await ctl.approve("manual", actor="alice")
    assert await asyncio.to_thread(held.wait, 60)  # the approved apply holds the only worker
    gauge = "truenorth_queue_depth"
    assert ctl.registry.get_sample_value(gauge) == 0.0
    planned = len(harness.engine.kinds("network"))

    refresh = asyncio.create_task(ctl.refresh("network", actor="bob"))
    await harness.until(lambda: ctl.registry.get_sample_value(gauge) == 1.0)
    assert len(harness.engine.kinds("network")) == planned  # queued, not running
    assert not refresh.done()  # its run row is written by the worker, once it has one

    harness.engine.release("manual")
    run_id = await refresh
    await harness.settle()
    assert ctl.registry.get_sample_value(gauge) == 0.0
    assert len(harness.engine.kinds("network")) == planned + 1
    run = ctl.store.get_run(run_id)
    assert run is not None and (run.stack, run.kind, run.actor) == ("network", "plan", "bob")
    assert harness.view("manual").sync_state == "synced"


async def test_an_independent_stack_does_not_wait_for_a_slow_one(harness: Harness) -> None:
    held = harness.engine.hold("network")
    ctl = harness.build()
    await ctl.start()
    assert await asyncio.to_thread(held.wait, 60)
    await harness.until(lambda: harness.view("manual").sync_state == "pending-approval")
    assert harness.view("network").sync_state == "applying"
    assert harness.engine.kinds("app") == []  # app depends on network: it waits
    harness.engine.release("network")
    await harness.settle()
    assert harness.view("app").sync_state == "synced"
