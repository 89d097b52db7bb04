"""Inputs from other stacks' outputs, through the controller and the CLI's local path.

The engine is the in-test :class:`~tests.controller.engines.FakeEngine` (it reports the
outputs a stack folder's ``outputs.json`` lists, and counts a changed input as a change):
what is tested is the controller's part. Resolution before every plan and apply, the
waiting plan while an upstream was never applied (shown, never applied), re-planning a
dependent exactly when an output it reads changes, refusing an apply whose inputs moved
since its plan, and keeping the sensitive value out of every record, log and answer.
``test_outputs_terraform.py`` does the same with the real Terraform engine.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from truenorth.controller.errors import ControllerError
from truenorth.controller.local import approving, orchestrating
from truenorth.controller.runs import registry, runtime, validating
from truenorth.core import outputs, runs

#: A sensitive output's value: it must appear in no record, log or answer.
CANARY = "tn-input-canary-5d1e08c3"

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    auto_apply: {network_auto}
  - name: app
    engine: terraform
    path: stacks/app
    auto_apply: {app_auto}
    inputs:
      cidr: network.cidr
      token: network.token
"""


def network_outputs(cidr: str) -> str:
    return json.dumps({"cidr": {"value": cidr}, "token": {"value": CANARY, "sensitive": True}})


def files(*, network_auto: bool = True, app_auto: bool = True, cidr: str = "10.0.0.0/16") -> dict[str, str]:
    return {
        "truenorth.yaml": SPEC.format(network_auto=str(network_auto).lower(), app_auto=str(app_auto).lower()),
        "stacks/network/main.txt": "network v1\n",
        "stacks/network/outputs.json": network_outputs(cidr),
        "stacks/app/main.txt": "app v1\n",
    }


def kinds(engine: FakeEngine, stack: str) -> list[str]:
    return [kind for name, kind in engine.kinds() if name == stack]


def leaks(data_dir: Path) -> list[str]:
    """Every file under the data dir holding the canary: the database (and its WAL), run
    folders, state. The Git mirror and snapshots are left out: with the in-test engine the
    value comes from the repository itself."""
    git = data_dir / "git"
    assert (data_dir / "truenorth.db").is_file()
    return [
        str(path)
        for path in data_dir.rglob("*")
        if path.is_file() and not path.is_relative_to(git) and CANARY.encode() in path.read_bytes()
    ]


async def test_a_changed_output_replans_exactly_its_readers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    repo = GitRepo(tmp_path / "source")
    repo.commit("network feeds app", files())
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    try:
        ctl = await harness.start()
        engine = harness.engine
        # In one pass: network applied, then app planned with its outputs, and applied.
        assert [call[:2] for call in engine.calls] == [
            ("network", "plan"),
            ("network", "apply"),
            ("app", "plan"),
            ("app", "apply"),
        ]
        assert engine.inputs[("app", "apply")] == {"cidr": "10.0.0.0/16", "token": CANARY}
        assert harness.view("app").sync_state.value == "synced"
        [plan_run] = harness.runs("app", kind="plan")
        assert [(i["name"], i["source"], i["value"]) for i in plan_run.summary["inputs"]] == [
            ("cidr", "network.cidr", "10.0.0.0/16"),
            ("token", "network.token", outputs.MASK),
        ]

        # A change to network that leaves its outputs as they were: app is not planned again.
        repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
        await harness.advance(POLL)
        assert kinds(engine, "network") == ["plan", "apply", "plan", "apply"]
        assert kinds(engine, "app") == ["plan", "apply"]

        # A changed output: network applied, then app planned with the new value and applied.
        engine.calls.clear()
        repo.commit("new cidr", {"stacks/network/outputs.json": network_outputs("10.1.0.0/16")})
        await harness.advance(POLL)
        assert [call[:2] for call in engine.calls] == [
            ("network", "plan"),
            ("network", "apply"),
            ("app", "plan"),
            ("app", "apply"),
        ]
        assert engine.inputs[("app", "apply")]["cidr"] == "10.1.0.0/16"

        # Shown: the stack's outputs (masked) and the inputs its plan used.
        shown = ctl.stack_outputs("network")
        assert {(o.name, o.value, o.sensitive) for o in shown.items} == {
            ("cidr", "10.1.0.0/16", False),
            ("token", outputs.MASK, True),
        }
        detail = ctl.stack("app")
        assert [(i.name, i.source, i.shown) for i in detail.inputs] == [
            ("cidr", "network.cidr", '"10.1.0.0/16"'),
            ("token", "network.token", outputs.MASK),
        ]
    finally:
        await harness.stop()
    assert leaks(tmp_path / "data") == []
    assert CANARY not in caplog.text


async def test_a_waiting_plan_is_shown_never_applied_and_planned_again(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit("network waits for approval", files(network_auto=False))
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    try:
        ctl = await harness.start()
        engine = harness.engine
        assert harness.view("network").sync_state.value == "pending-approval"
        # app's plan was made without calling the engine, and is not applied (auto_apply or not).
        assert kinds(engine, "app") == []
        app = harness.view("app")
        assert app.sync_state.value == "out-of-sync"
        assert app.error is not None and "cidr (known after network applies)" in app.error
        [waiting] = harness.runs("app", kind="plan")
        assert waiting.summary["unknown"] == 2 and waiting.summary["has_changes"] is True
        assert [i["known"] for i in waiting.summary["inputs"]] == [False, False]
        assert harness.runs("app", kind="apply") == []
        with pytest.raises(ControllerError) as caught:
            await ctl.sync("app", actor="alice")
        assert caught.value.kind == "conflict"
        assert (
            "cidr (known after network applies), token (known after network applies)" in caught.value.message
        )

        # Once network is applied, app is planned with the values and, auto_apply, applied.
        await ctl.approve("network", actor="alice")
        await harness.settle()
        await harness.advance(POLL)
        assert kinds(engine, "app") == ["plan", "apply"]
        assert engine.inputs[("app", "apply")] == {"cidr": "10.0.0.0/16", "token": CANARY}
        assert harness.view("app").sync_state.value == "synced"
    finally:
        await harness.stop()


async def test_an_apply_whose_inputs_moved_since_its_plan_is_refused_then_replanned(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit("app waits for approval", files(app_auto=False))
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    try:
        ctl = await harness.start()
        assert harness.view("app").sync_state.value == "pending-approval"
        key = ctl.runtime.sources.key(repo.url)
        # Network's outputs move under the held plan (as another apply of network would).
        ctl.store.replace_outputs(
            repository=key,
            stack="network",
            revision=repo.head(),
            run_id=None,
            outputs=(
                outputs.Output(name="cidr", value="192.168.0.0/24"),
                outputs.Output(name="token", value=CANARY, sensitive=True),
            ),
        )
        run_id = await ctl.approve("app", actor="alice")
        await harness.settle()
        run = ctl.store.get_run(run_id)
        assert run is not None and run.status == "failed"
        assert "is stale: input cidr (network.cidr) changed since it was made" in run.error
        assert "app" not in {name for name, kind in harness.engine.kinds() if kind == "apply"}
        # Planned again, with the new value, and held for approval again.
        plans_ = harness.runs("app", kind="plan")
        assert len(plans_) == 2
        assert plans_[-1].summary["inputs"][0]["value"] == "192.168.0.0/24"
        assert harness.view("app").sync_state.value == "pending-approval"
    finally:
        await harness.stop()


def test_the_local_path_plans_waiting_then_applies_with_known_values(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit("network feeds app", files())
    engine = FakeEngine()
    rt = runtime.open_runtime(tmp_path / "data", engines=registry.EngineRegistry({"terraform": engine}))
    try:
        revision = rt.sources.checkout(repo.url)
        stacks = validating.validate_checkout(revision.checkout).order()
        planned = orchestrating.plan_revision(rt, revision, stacks)
        app = planned[1].plan
        assert app is not None and app.has_changes  # "changes present": exit 2
        assert [item.placeholder() for item in app.waiting_for] == ["(known after network applies)"] * 2
        assert kinds(engine, "app") == []

        spec = validating.validate_checkout(revision.checkout)
        first, applied = orchestrating.apply_revision(rt, revision, spec, stacks, confirm=lambda found: True)
        assert [o.result.status for o in applied] == [runs.RunStatus.SUCCEEDED, runs.RunStatus.SUCCEEDED]
        assert engine.inputs[("app", "apply")] == {"cidr": "10.0.0.0/16", "token": CANARY}
        # The stored plan that was waiting cannot be synced; the one made after network's apply was applied.
        assert first[1].plan is not None and first[1].plan.waiting_for
        with pytest.raises(approving.ActionError):
            approving.apply_stored_plan(rt, repo.url, "app", actor="alice")  # nothing pending any more
    finally:
        rt.close()
    assert leaks(tmp_path / "data") == []
