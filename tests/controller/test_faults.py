"""Faults: force-pushes, git outages, invalid revisions, failures and retries, crashes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import STATE_FILE, FakeEngine
from tests.support.gitrepos import GitRepo
from truenorth import config
from truenorth.store import database, sqlite_url


async def test_a_force_push_to_an_older_commit_is_reported_not_applied(harness: Harness) -> None:
    ctl = await harness.start()
    older = harness.repo.head()
    newer = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    await harness.advance(POLL)
    assert harness.view("network").applied_revision == newer
    applies = len(harness.runs("network", kind="apply"))

    harness.repo.git("reset", "-q", "--hard", older)
    ctl.push_received(repository_urls=[harness.repo.url], ref="main")
    await harness.settle()

    view = harness.view("network")
    assert view.applied_revision == newer
    assert view.sync_state == "out-of-sync"
    assert view.error is not None and "older than the applied revision" in view.error
    assert [r.status for r in harness.runs("network", kind="apply")[applies:]] == ["skipped"]
    [repository] = ctl.repositories()
    assert repository.revision == older
    assert repository.source_error is not None and "force-push" in repository.source_error
    # Nothing deployed went backwards: the state still holds the newer revision.
    state = json.loads((harness.state("network") / STATE_FILE).read_text())
    assert state["revision"] == newer


async def test_git_outage_keeps_everything_and_recovers_by_itself(repo: GitRepo, tmp_path: Path) -> None:
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    harness.url = str(repo.path)
    try:
        ctl = await harness.start()
        first = repo.head()
        assert harness.view("network").applied_revision == first

        moved = repo.path.with_name("gone")
        repo.path.rename(moved)
        await harness.advance(POLL)
        [repository] = ctl.repositories()
        assert repository.source_error is not None
        assert harness.view("network").applied_revision == first
        assert harness.view("network").sync_state == "synced"
        errors = ctl.registry.get_sample_value("truenorth_git_errors_total", {"repository": "infra"})
        assert errors == 1.0

        # Backoff: 5 s, then 10 s, still failing, nothing applied or changed.
        await harness.advance(5)
        await harness.advance(10)
        assert ctl.registry.get_sample_value("truenorth_git_errors_total", {"repository": "infra"}) == 3.0

        moved.rename(repo.path)
        sha = repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
        await harness.advance(20)
        [repository] = ctl.repositories()
        assert repository.source_error is None
        assert harness.view("network").applied_revision == sha
    finally:
        await harness.stop()


async def test_an_invalid_revision_is_recorded_and_nothing_of_it_is_applied(harness: Harness) -> None:
    ctl = await harness.start()
    good = harness.repo.head()
    bad = harness.repo.commit(
        "broken spec",
        {
            "truenorth.yaml": "stacks:\n  - name: network\n    engine: nope\n",
            "stacks/network/main.txt": "v2\n",
        },
    )
    await harness.advance(POLL)

    [repository] = ctl.repositories()
    assert repository.revision == bad and repository.valid_revision == good
    assert repository.source_error is not None and "invalid" in repository.source_error
    failures = ctl.store.list_runs(stack="*")
    assert [(r.revision, r.status) for r in failures] == [(bad, "failed")]
    assert "engine" in failures[0].error
    assert harness.view("network").applied_revision == good
    assert harness.view("network").desired_revision == bad

    # Polling again does not record the same invalid revision twice.
    await harness.advance(POLL)
    assert len(ctl.store.list_runs(stack="*")) == 1

    fixed = harness.repo.commit(
        "fixed", {"truenorth.yaml": harness.repo.git("show", f"{good}:truenorth.yaml") + "\n"}
    )
    await harness.advance(POLL)
    assert harness.view("network").applied_revision == fixed
    [repository] = ctl.repositories()
    assert repository.source_error is None


async def test_a_failing_plan_is_retried_with_backoff_then_left_alone(harness: Harness) -> None:
    harness.retry = config.RetryConfig(initial=5, maximum=180, tries=3)
    await harness.start()
    harness.engine.calls.clear()
    harness.repo.commit("breaks", {"stacks/network/FAIL_PLAN": "x"})
    await harness.advance(POLL)
    assert harness.engine.kinds("network") == [("network", "plan")]
    assert harness.view("network").sync_state == "failed"
    assert "failed on purpose" in (harness.view("network").error or "")

    await harness.advance(4)
    assert len(harness.engine.kinds("network")) == 1  # backoff not over yet
    await harness.advance(1)
    assert len(harness.engine.kinds("network")) == 2
    await harness.advance(10)
    assert len(harness.engine.kinds("network")) == 3
    await harness.advance(600)  # three tries in all: given up for this revision
    assert len([k for k in harness.engine.kinds("network") if k[1] == "plan"]) == 3

    harness.repo.git("rm", "-q", "stacks/network/FAIL_PLAN")
    sha = harness.repo.commit("fixed", {"stacks/network/main.txt": "network v2\n"})
    await harness.advance(POLL)
    assert harness.view("network").sync_state == "synced"
    assert harness.view("network").applied_revision == sha


async def test_dependents_of_a_failed_apply_are_skipped_and_recorded(harness: Harness) -> None:
    harness.retry = config.RetryConfig(initial=5, maximum=180, tries=1)
    await harness.start()
    harness.repo.commit(
        "both change, network fails",
        {"stacks/network/FAIL_APPLY": "x", "stacks/app/main.txt": "app v2\n"},
    )
    await harness.advance(POLL)
    assert harness.view("network").sync_state == "failed"
    skipped = harness.runs("app", kind="apply")[-1]
    assert skipped.status == "skipped"
    assert "dependency network failed" in skipped.error
    assert ("app", "plan") not in harness.engine.kinds()[-2:]


async def test_drift_is_found_and_self_heal_reapplies_the_deployed_revision(harness: Harness) -> None:
    spec = harness.repo.path.joinpath("truenorth.yaml").read_text()
    spec = spec.replace(
        "    path: stacks/network\n    auto_apply: true\n",
        "    path: stacks/network\n    auto_apply: true\n    drift_interval: 5m\n",
    ).replace(
        "    depends_on: [network]\n    auto_apply: true\n",
        "    depends_on: [network]\n    auto_apply: true\n    self_heal: true\n    drift_interval: 5m\n",
    )
    harness.repo.commit("drift settings", {"truenorth.yaml": spec})
    ctl = await harness.start()
    deployed = harness.repo.head()
    for name in ("network", "app"):
        path = harness.state(name) / STATE_FILE
        path.write_text(json.dumps({"digest": "edited outside truenorth"}))

    await harness.advance(300)

    network = harness.view("network")
    assert (network.drift, network.sync_state) == (True, "out-of-sync")
    drift_runs = harness.runs("network", kind="drift")
    assert drift_runs and drift_runs[-1].revision == deployed
    app = harness.view("app")
    assert (app.drift, app.sync_state) == (False, "synced")
    healed = harness.runs("app", kind="apply")[-1]
    assert (
        healed.status == "succeeded" and healed.reason is not None and healed.reason.startswith("self-heal")
    )
    assert json.loads((harness.state("app") / STATE_FILE).read_text())["revision"] == deployed
    assert (
        ctl.registry.get_sample_value(
            "truenorth_runs_total", {"engine": "terraform", "kind": "drift", "result": "succeeded"}
        )
        == 2.0
    )


async def test_an_interrupted_run_is_marked_and_its_stack_planned_again(harness: Harness) -> None:
    data = harness.data_dir
    store = database.Store.open(sqlite_url(data))
    key = harness.repo.url
    run_id = store.start_run(stack="network", repository=key, revision=harness.repo.head(), kind="apply")
    store.upsert_stack(repository=key, name="network", engine="terraform", sync_state="applying")
    store.close()

    ctl = await harness.start()

    run = ctl.store.get_run(run_id)
    assert run is not None and run.status == "interrupted"
    view = harness.view("network")
    assert view.sync_state == "synced"
    assert view.applied_revision == harness.repo.head()
    plans = harness.runs("network", kind="plan")
    assert plans and plans[0].id > run_id


async def test_metrics_are_served_from_the_controller_registry(harness: Harness) -> None:
    ctl = await harness.start()
    registry = ctl.registry
    assert registry.get_sample_value("truenorth_stacks", {"sync_state": "synced", "health": "Healthy"}) == 2.0
    assert (
        registry.get_sample_value("truenorth_stacks", {"sync_state": "pending-approval", "health": "Unknown"})
        == 1.0
    )
    assert (
        registry.get_sample_value(
            "truenorth_runs_total", {"engine": "terraform", "kind": "apply", "result": "succeeded"}
        )
        == 2.0
    )
    assert (
        registry.get_sample_value("truenorth_git_fetch_duration_seconds_count", {"repository": "infra"})
        == 1.0
    )
    assert (
        registry.get_sample_value("truenorth_reconcile_duration_seconds_count", {"repository": "infra"})
        >= 1.0
    )
    assert registry.get_sample_value("truenorth_queue_depth") == 0.0
    from truenorth.controller.loop import metrics

    metrics.webhook_received(ctl, "github", "accepted")
    assert (
        registry.get_sample_value("truenorth_webhooks_total", {"provider": "github", "outcome": "accepted"})
        == 1.0
    )


async def test_retries_wait_while_the_source_is_in_error(repo: GitRepo, tmp_path: Path) -> None:
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    try:
        ctl = await harness.start()
        repo.commit("breaks network", {"stacks/network/FAIL_PLAN": "x"})
        await harness.advance(POLL)
        assert harness.view("network").sync_state == "failed"  # retry due in 5 s
        calls = len(harness.engine.calls)

        moved = repo.path.with_name("gone")
        repo.path.rename(moved)
        ctl.push_received(repository_urls=[repo.url], ref="main")
        await harness.settle()
        for seconds in (5, 10, 20, 40):
            await harness.advance(seconds)
        assert len(harness.engine.calls) == calls  # no plan, no apply while git is down

        moved.rename(repo.path)
        await harness.advance(80)
        assert ctl.repositories()[0].source_error is None
        assert len(harness.engine.calls) > calls  # the pending retry runs again
    finally:
        await harness.stop()


async def test_a_drift_check_without_drift_keeps_a_pending_approval(harness: Harness) -> None:
    ctl = await harness.start()
    await ctl.approve("manual", actor="alice")
    await harness.settle()
    harness.repo.commit("manual v2", {"stacks/manual/main.txt": "manual v2\n"})
    await harness.advance(POLL)
    pending = harness.view("manual")
    assert pending.sync_state == "pending-approval"

    await harness.advance(600)  # the default drift interval

    drift = harness.runs("manual", kind="drift")
    assert drift and drift[-1].summary["has_changes"] is False
    view = harness.view("manual")
    assert (view.sync_state, view.drift) == ("pending-approval", False)
    assert view.pending_plan_run_id == pending.pending_plan_run_id
