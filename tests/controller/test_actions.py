"""API actions: refresh, sync, approve, rollback, and one operation per stack at a time."""

from __future__ import annotations

import asyncio

import pytest

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import read_state
from truenorth.controller.errors import ControllerError


async def approve_and_wait(harness: Harness, name: str) -> int:
    assert harness.ctl is not None
    run_id = await harness.ctl.approve(name, actor="alice")
    await harness.settle()
    return run_id


async def test_approve_applies_the_stored_plan(harness: Harness) -> None:
    ctl = await harness.start()
    pending = harness.view("manual").pending_plan_run_id
    assert pending is not None

    run_id = await approve_and_wait(harness, "manual")

    run = ctl.store.get_run(run_id)
    assert run is not None
    assert (run.kind, run.status, run.actor, run.plan_id) == ("apply", "succeeded", "alice", pending)
    view = harness.view("manual")
    assert (view.sync_state, view.applied_revision, view.pending_plan_run_id) == (
        "synced",
        harness.repo.head(),
        None,
    )
    assert view.last_run is not None and view.last_run.id == run_id

    with pytest.raises(ControllerError) as caught:
        await ctl.approve("manual", actor="alice")
    assert caught.value.kind == "conflict"
    assert "not waiting for approval" in caught.value.message


async def test_sync_without_a_stored_plan_is_a_conflict(harness: Harness) -> None:
    ctl = await harness.start()
    with pytest.raises(ControllerError) as caught:
        await ctl.sync("network", actor="alice")
    assert caught.value.kind == "conflict"
    with pytest.raises(ControllerError) as caught:
        await ctl.sync("nope", actor="alice")
    assert caught.value.kind == "not_found"
    with pytest.raises(ControllerError) as caught:
        ctl.stack("nope", repository="other")
    assert caught.value.kind == "not_found"


async def test_a_stale_stored_plan_is_refused_and_planned_again(harness: Harness) -> None:
    ctl = await harness.start()
    state_dir = harness.state("manual")
    (state_dir / "fake-state.json").write_text('{"digest": "changed behind our back"}')

    run_id = await ctl.approve("manual", actor="alice")
    await harness.settle()

    run = ctl.store.get_run(run_id)
    assert run is not None and run.status == "failed" and "stale" in run.error
    view = harness.view("manual")
    assert view.sync_state == "pending-approval"
    assert view.pending_plan_run_id is not None and view.pending_plan_run_id > run_id


async def test_refresh_plans_again_and_returns_the_plan_run(harness: Harness) -> None:
    ctl = await harness.start()
    harness.engine.calls.clear()
    run_id = await ctl.refresh("network", actor="bob")
    await harness.settle()
    run = ctl.store.get_run(run_id)
    assert run is not None and (run.kind, run.status, run.actor) == ("plan", "succeeded", "bob")
    assert harness.engine.kinds() == [("network", "plan")]


async def test_an_action_on_a_busy_stack_is_refused(harness: Harness) -> None:
    ctl = await harness.start()
    started = harness.engine.hold("manual")
    run_id = await ctl.approve("manual", actor="alice")
    assert await asyncio.to_thread(started.wait, 60)
    run = ctl.store.get_run(run_id)
    assert run is not None and run.status == "running"
    assert harness.view("manual").sync_state == "applying"
    assert harness.view("manual").busy

    for action in (ctl.refresh("manual", actor="bob"), ctl.sync("manual", actor="bob")):
        with pytest.raises(ControllerError) as caught:
            await action
        assert (caught.value.kind, caught.value.message) == (
            "conflict",
            "another operation is already in progress",
        )

    harness.engine.release("manual")
    await harness.settle()
    run = ctl.store.get_run(run_id)
    assert run is not None and run.status == "succeeded"


async def test_rollback_to_an_earlier_applied_revision_records_who_and_why(harness: Harness) -> None:
    ctl = await harness.start()
    first = harness.repo.head()
    await approve_and_wait(harness, "manual")
    second = harness.repo.commit("manual v2", {"stacks/manual/main.txt": "manual v2\n"})
    await harness.advance(POLL)
    await approve_and_wait(harness, "manual")
    assert harness.view("manual").applied_revision == second

    run_id = await ctl.rollback("manual", revision=first[:10], actor="carol", reason="v2 broke checkout")
    await harness.settle()

    runs = harness.runs("manual")
    rolled = [run for run in runs if run.id >= run_id]
    assert [(r.kind, r.status, r.revision, r.actor, r.reason) for r in rolled[:2]] == [
        ("plan", "succeeded", first, "carol", "v2 broke checkout"),
        ("apply", "succeeded", first, "carol", "v2 broke checkout"),
    ]
    assert read_state(harness.state("manual"))["revision"] == first
    view = harness.view("manual")
    assert view.applied_revision == first
    # Going forward again is planned and waits for approval; nothing re-applies the newer revision.
    assert view.sync_state == "pending-approval"
    assert harness.runs("manual", kind="apply")[-1].revision == first


async def test_rollback_is_refused_for_unknown_revisions_and_auto_apply_stacks(harness: Harness) -> None:
    ctl = await harness.start()
    never = harness.repo.commit("unrelated", {"README.md": "x\n"})
    with pytest.raises(ControllerError) as caught:
        await ctl.rollback("manual", revision=never, actor="carol", reason="why not")
    assert caught.value.kind == "invalid"
    with pytest.raises(ControllerError) as caught:
        await ctl.rollback("network", revision=harness.repo.head(), actor="carol", reason="x")
    assert caught.value.kind == "conflict"
    assert "auto_apply" in caught.value.message
    with pytest.raises(ControllerError) as caught:
        await ctl.rollback("manual", revision=never, actor="carol", reason="  ")
    assert caught.value.kind == "invalid"
