"""The Terraform engine end to end with the real terraform binary: two stacks, drift, staleness."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import Lab, stack, tree_digest
from truenorth.core import plans as core_plans
from truenorth.core import runs
from truenorth.engines import sandbox
from truenorth.engines.protocol import EngineError
from truenorth.engines.terraform import TerraformEngine

pytestmark = pytest.mark.slow

REV1 = "1" * 40
REV2 = "2" * 40

NETWORK = """
variable "cidr" {
  type    = string
  default = "10.0.0.0/16"
}

module "labels" {
  source = "../../modules/labels"
  name   = "net"
}

resource "terraform_data" "vpc" {
  input = { cidr = var.cidr, label = module.labels.label }
}

output "vpc_cidr" {
  value = terraform_data.vpc.output.cidr
}
"""

LABELS = """
variable "name" { type = string }
output "label" { value = "team-${var.name}" }
"""

APP = """
data "terraform_remote_state" "network" {
  backend = "local"
  config = {
    path = ".truenorth/deps/network/terraform.tfstate"
  }
}

resource "terraform_data" "app" {
  input = data.terraform_remote_state.network.outputs.vpc_cidr
}
"""

FILES = {"stacks/network/main.tf": NETWORK, "modules/labels/main.tf": LABELS, "stacks/app/main.tf": APP}


def actions(plan: core_plans.Plan) -> dict[str, str]:
    return {item.address: item.action.value for item in plan.changes}


def bump_output(state_file: Path, name: str, value: str) -> None:
    """Change an output in a state file behind Terraform's back (what drift looks like)."""
    state = json.loads(state_file.read_text())
    state["outputs"][name]["value"] = value
    state["serial"] += 1
    state_file.write_text(json.dumps(state))


def test_two_stacks_plan_apply_and_drift_through_remote_state(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(FILES)
    before = tree_digest(checkout)
    network, app = stack("network"), stack("app", depends_on=["network"])

    plan = engine.plan(lab.ctx(network, checkout, revision=REV1))
    assert actions(plan) == {"terraform_data.vpc": "create", "output.vpc_cidr": "create"}
    assert plan.has_changes and (plan.summary.add, plan.summary.outputs) == (1, 1)
    assert plan.changes[0].after["input"] == {"cidr": "10.0.0.0/16", "label": "team-net"}
    assert "Plan: 1 to add" in plan.output
    assert plan.artifact and Path(plan.artifact).is_file()
    assert stat.S_IMODE(Path(plan.artifact).stat().st_mode) == 0o600
    assert plan.meta["init_ran"] is True
    assert any("terraform_data.vpc will be created" in line for line in lab.lines)

    result = engine.apply(lab.ctx(network, checkout, revision=REV1), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert result.kind is runs.RunKind.APPLY and result.plan is not None
    assert result.plan.changes == plan.changes
    # Each run records whether its commands were sandboxed: the plan, and the apply.
    assert result.plan.meta["apply_sandbox"] == plan.meta["sandbox"]
    if sandbox.probe().works:
        assert plan.meta["sandbox"] == "bubblewrap"
    assert "Apply complete! Resources: 1 added" in result.output
    assert result.started_at.tzinfo is not None and result.finished_at >= result.started_at
    assert not Path(plan.artifact).exists()  # applied plans are removed
    network_state = lab.data / "state" / "network" / "terraform.tfstate"
    assert json.loads(network_state.read_text())["outputs"]["vpc_cidr"]["value"] == "10.0.0.0/16"

    app_plan = engine.plan(lab.ctx(app, checkout, revision=REV1))
    assert actions(app_plan) == {"terraform_data.app": "create"}
    assert app_plan.changes[0].after["input"] == "10.0.0.0/16"
    assert engine.apply(lab.ctx(app, checkout, revision=REV1), app_plan).ok

    for spec in (network, app):
        again = engine.plan(lab.ctx(spec, checkout, revision=REV1))
        assert not again.has_changes, again.output
        assert again.meta["init_ran"] is False  # nothing init reads changed

    # Someone changes the network's state outside truenorth.
    bump_output(network_state, "vpc_cidr", "10.9.0.0/16")
    drift = engine.drift(lab.ctx(app, checkout, revision=REV1))
    assert drift.has_changes
    assert actions(drift) == {"terraform_data.app": "update"}
    (change,) = drift.changes
    assert (change.before["input"], change.after["input"]) == ("10.0.0.0/16", "10.9.0.0/16")
    assert drift.meta["kind"] == "drift"
    network_drift = engine.drift(lab.ctx(network, checkout, revision=REV1))
    assert {item.address: item.action.value for item in network_drift.changed} == {
        "output.vpc_cidr": "update"
    }

    assert tree_digest(checkout) == before  # the read-only checkout was never written
    assert not (lab.data / "state" / "app" / "work" / "tree").exists()
    assert (lab.data / "runs").is_dir() and any((lab.data / "runs").rglob("plan.json"))


def test_stale_plans_are_refused(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(FILES)
    network = stack("network")
    first = engine.plan(lab.ctx(network, checkout, revision=REV1))

    other_revision = engine.apply(lab.ctx(network, checkout, revision=REV2), first)
    assert other_revision.status is runs.RunStatus.FAILED
    assert "refused" in other_revision.error and REV1[:12] in other_revision.error
    assert Path(str(first.artifact)).exists()  # nothing was touched

    # The state changes after the plan (another apply): truenorth refuses first...
    second = engine.plan(lab.ctx(network, checkout, revision=REV1))
    assert engine.apply(lab.ctx(network, checkout, revision=REV1), second).ok
    late = engine.plan(lab.ctx(network, checkout, revision=REV1))
    assert not late.has_changes
    refused = engine.apply(lab.ctx(network, checkout, revision=REV1), first)
    assert refused.status is runs.RunStatus.FAILED
    assert "plan file is gone" in refused.error or "changed since the plan" in refused.error

    # ... and with a plan file whose state is old but whose fingerprint we forge,
    # Terraform's own stale check is mapped to a clear error.
    state_file = lab.data / "state" / "network" / "terraform.tfstate"
    old = engine.drift(lab.ctx(network, checkout, revision=REV1))
    bump_output(state_file, "vpc_cidr", "10.1.0.0/16")
    fresh = engine.plan(lab.ctx(network, checkout, revision=REV1))
    forged = dataclasses.replace(old, fingerprint=fresh.fingerprint)
    result = engine.apply(lab.ctx(network, checkout, revision=REV1), forged)
    assert result.status is runs.RunStatus.FAILED
    assert "Terraform reports the saved plan is stale" in result.error

    # A fingerprint mismatch alone is enough to refuse.
    tampered = dataclasses.replace(fresh, fingerprint="0" * 64)
    refused = engine.apply(lab.ctx(network, checkout, revision=REV1), tampered)
    assert "changed since the plan" in refused.error
    # A plan file outside the stack's plans folder is never applied.
    elsewhere = dataclasses.replace(fresh, artifact=str(lab.root / "evil.tfplan"))
    assert (
        "not one of this stack's plans"
        in engine.apply(lab.ctx(network, checkout, revision=REV1), elsewhere).error
    )
    assert engine.apply(lab.ctx(network, checkout, revision=REV1), fresh).ok


def test_hcl_syntax_error_names_the_stack(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"stacks/broken/main.tf": 'resource "terraform_data" "x" {\n  input = \n'})
    with pytest.raises(EngineError) as caught:
        engine.plan(lab.ctx(stack("broken"), checkout))
    message = str(caught.value)
    assert "stack 'broken'" in message and "init failed" in message
    assert "main.tf" in message
    assert str(lab.data) not in message  # working-copy paths are shortened


def test_vars_are_json_encoded_and_var_files_used(lab: Lab, engine: TerraformEngine) -> None:
    config = """
variable "count_of" { type = number }
variable "enabled" { type = bool }
variable "names" { type = list(string) }
variable "tags" { type = map(string) }
variable "label" { type = string }
variable "from_file" { type = string }
resource "terraform_data" "x" {
  input = {
    count_of = var.count_of, enabled = var.enabled, names = var.names,
    tags = var.tags, label = var.label, from_file = var.from_file
  }
}
"""
    checkout = lab.checkout({"stacks/typed/main.tf": config, "env/prod.tfvars": 'from_file = "prod"\n'})
    spec = stack(
        "typed",
        vars={"count_of": 3, "enabled": True, "names": ["a", "b"], "tags": {"k": "v"}, "label": "x = [1]"},
        var_files=("env/prod.tfvars",),
    )
    plan = engine.plan(lab.ctx(spec, checkout))
    (change,) = plan.changes
    assert change.after["input"] == {
        "count_of": 3,
        "enabled": True,
        "names": ["a", "b"],
        "tags": {"k": "v"},
        "label": "x = [1]",
        "from_file": "prod",
    }


def test_declared_backend_is_left_alone(lab: Lab, engine: TerraformEngine) -> None:
    elsewhere = lab.root / "declared" / "net.tfstate"
    elsewhere.parent.mkdir()
    config = f'terraform {{\n  backend "local" {{\n    path = "{elsewhere}"\n  }}\n}}\nresource "terraform_data" "x" {{}}\n'
    checkout = lab.checkout({"stacks/own/main.tf": config})
    spec = stack("own")
    if sandbox.probe().works:  # sandboxed, a folder outside the state dir must be allowed
        with pytest.raises(EngineError, match=r"its local backend keeps the state in .*declared, outside"):
            engine.plan(lab.ctx(spec, checkout))
    allowed = sandbox.Policy(writable=(elsewhere.parent,))
    plan = engine.plan(lab.ctx(spec, checkout, sandbox=allowed))
    assert engine.apply(lab.ctx(spec, checkout, sandbox=allowed), plan).ok
    assert elsewhere.is_file()
    assert not (lab.data / "state" / "own" / "terraform.tfstate").exists()
    assert not engine.plan(lab.ctx(spec, checkout, sandbox=allowed)).has_changes


def test_relative_local_backend_is_refused(lab: Lab, engine: TerraformEngine) -> None:
    config = 'terraform {\n  backend "local" {}\n}\nresource "terraform_data" "x" {}\n'
    checkout = lab.checkout({"stacks/lost/main.tf": config})
    with pytest.raises(EngineError, match=r"stack 'lost'.*without an absolute path"):
        engine.plan(lab.ctx(stack("lost"), checkout))


def test_workspace_state_lives_in_the_state_dir(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(
        {"stacks/ws/main.tf": 'resource "terraform_data" "x" { input = terraform.workspace }\n'}
    )
    spec = stack("ws", workspace="dev")
    plan = engine.plan(lab.ctx(spec, checkout))
    assert plan.changes[0].after["input"] == "dev"
    assert engine.apply(lab.ctx(spec, checkout), plan).ok
    assert (lab.data / "state" / "ws" / "terraform.tfstate.d" / "dev" / "terraform.tfstate").is_file()
    assert not engine.plan(lab.ctx(spec, checkout)).has_changes


def test_failed_apply_reports_what_changed(lab: Lab, engine: TerraformEngine) -> None:
    config = """
resource "terraform_data" "ok" { input = "fine" }
resource "terraform_data" "bad" {
  depends_on = [terraform_data.ok]
  provisioner "local-exec" { command = "exit 3" }
}
"""
    checkout = lab.checkout({"stacks/partial/main.tf": config})
    spec = stack("partial")
    plan = engine.plan(lab.ctx(spec, checkout))
    result = engine.apply(lab.ctx(spec, checkout), plan)
    assert result.status is runs.RunStatus.FAILED
    assert "stack 'partial': apply failed: terraform exited with code 1" in result.error
    assert "local-exec provisioner error" in result.error
    assert "terraform_data.ok: Creation complete" in result.output  # what did change
    # The failed resource is tainted; the next plan replaces only it.
    again = engine.plan(lab.ctx(spec, checkout))
    assert {item.address: item.action.value for item in again.changed} == {"terraform_data.bad": "replace"}
    assert "tainted" in again.changed[0].reason


def test_plan_failure_is_an_engine_error(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"stacks/one/main.tf": 'resource "terraform_data" "x" {}\n'})
    with pytest.raises(EngineError, match=r"(?s)stack 'one': plan failed: .*Value for undeclared variable"):
        engine.plan(lab.ctx(stack("one", vars={"nope": 1}), checkout))
