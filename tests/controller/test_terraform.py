"""The controller with the real Terraform engine: apply, approve, drift and self-heal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import APP_TF, CANARY, NETWORK_TF
from tests.controller.conftest import Harness
from tests.support.gitrepos import GitRepo
from truenorth.controller.runs import registry
from truenorth.core.states import Health

pytestmark = pytest.mark.slow

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    auto_apply: true
    self_heal: true
    drift_interval: 5m
  - name: app
    engine: terraform
    path: stacks/app
    depends_on: [network]
    drift_interval: 1h
"""


def vpc_cidr(state_file: Path) -> str:
    state = json.loads(state_file.read_text())
    [vpc] = [r for r in state["resources"] if r["type"] == "terraform_data" and r["name"] == "vpc"]
    return str(vpc["instances"][0]["attributes"]["input"]["value"]["cidr"])


def edit_vpc_cidr(state_file: Path, cidr: str) -> None:
    """Change the deployed resource behind Terraform's back (as a console edit would)."""
    state = json.loads(state_file.read_text())
    for resource in state["resources"]:
        if resource["type"] == "terraform_data" and resource["name"] == "vpc":
            resource["instances"][0]["attributes"]["input"]["value"]["cidr"] = cidr
    state["serial"] += 1
    state_file.write_text(json.dumps(state))


async def test_terraform_stacks_converge_drift_is_healed(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "source")
    head = repo.commit(
        "two terraform stacks",
        {"truenorth.yaml": SPEC, "stacks/network/main.tf": NETWORK_TF, "stacks/app/main.tf": APP_TF},
    )
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=None)  # type: ignore[arg-type]
    harness.engine_registry = registry.EngineRegistry()
    try:
        ctl = await harness.start()
        network, app = harness.view("network"), harness.view("app")
        assert (network.sync_state, network.applied_revision, network.health) == (
            "synced",
            head,
            Health.HEALTHY,
        )
        assert app.sync_state == "pending-approval"

        plan = ctl.current_plan("app")
        assert plan is not None
        assert {c["address"] for c in plan.changes} == {"terraform_data.service"}

        run_id = await ctl.approve("app", actor="alice")
        await harness.settle()
        applied = ctl.store.get_run(run_id)
        assert applied is not None and applied.status == "succeeded", applied
        assert harness.view("app").sync_state == "synced"

        state_file = harness.state("network") / "terraform.tfstate"
        assert vpc_cidr(state_file) == "10.0.0.0/16"
        edit_vpc_cidr(state_file, "10.99.0.0/16")

        await harness.advance(300)

        drift = harness.runs("network", kind="drift")[-1]
        assert drift.status == "succeeded" and drift.summary["has_changes"] is True
        healed = harness.runs("network", kind="apply")[-1]
        assert healed.status == "succeeded" and healed.revision == head
        assert healed.reason == f"self-heal: drift found by run {drift.id}"
        assert vpc_cidr(state_file) == "10.0.0.0/16"
        network = harness.view("network")
        assert (network.sync_state, network.drift) == ("synced", False)

        shown = repr(ctl.stacks()) + repr(ctl.repositories()) + repr(ctl.store.list_runs(limit=100))
        assert CANARY not in shown
    finally:
        await harness.stop()


AUTO_SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    auto_apply: true
  - name: app
    engine: terraform
    path: stacks/app
    depends_on: [network]
    auto_apply: true
"""


async def test_a_dependency_change_reaches_its_dependent_in_one_pass(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit(
        "two terraform stacks",
        {"truenorth.yaml": AUTO_SPEC, "stacks/network/main.tf": NETWORK_TF, "stacks/app/main.tf": APP_TF},
    )
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=None)  # type: ignore[arg-type]
    harness.engine_registry = registry.EngineRegistry()
    try:
        ctl = await harness.start()
        assert harness.view("app").sync_state == "synced"
        sha = repo.commit(
            "new cidr", {"stacks/network/main.tf": NETWORK_TF.replace("10.0.0.0/16", "10.1.0.0/16")}
        )
        assert ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main") == ["infra"]
        await harness.settle()

        assert harness.view("network").applied_revision == sha
        # app's own files did not change, but it read network's outputs: planned and applied again.
        app_apply = harness.runs("app", kind="apply")[-1]
        assert app_apply.status == "succeeded" and app_apply.revision == sha
        service = [c for c in app_apply.changes if c["address"] == "terraform_data.service"]
        assert service and service[0]["action"] in ("update", "replace")
        state = json.loads((harness.state("app") / "terraform.tfstate").read_text())
        assert "10.1.0.0/16" in json.dumps(state["resources"])
    finally:
        await harness.stop()
