"""A Terraform stack's outputs feed a Terraform dependent through the controller (real Terraform).

The dependent is planned again exactly when an output it reads changes: a change to its
upstream that leaves the outputs as they were plans only the upstream. While the upstream
waits for approval (never applied), the dependent's plan waits too, "known after network
applies", and is never applied. The sensitive output (a hash Terraform computes, never in
Git) is in no log record, API view, plan or database file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from tests.controller.conftest import POLL, Harness
from tests.support.gitrepos import GitRepo
from truenorth.controller.runs import registry

pytestmark = pytest.mark.slow

SEED = "seed-of-the-controller-outputs-test"
CANARY = hashlib.sha256(SEED.encode()).hexdigest()

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: network
    auto_apply: {auto}
  - name: app
    engine: terraform
    path: app
    auto_apply: true
    inputs:
      cidr: network.cidr
      token: network.token
"""

NETWORK = """\
resource "terraform_data" "vpc" {
  input = "CIDR"
}

resource "terraform_data" "other" {
  input = "OTHER"
}

output "cidr" {
  value = terraform_data.vpc.output
}

output "token" {
  value     = sha256("SEED")
  sensitive = true
}
"""

APP = """\
variable "cidr" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
}

resource "terraform_data" "subnet" {
  input = var.cidr
}

resource "terraform_data" "secret" {
  input = var.token
}
"""


def network(*, cidr: str = "10.0.0.0/16", other: str = "one") -> str:
    return NETWORK.replace("CIDR", cidr).replace("OTHER", other).replace("SEED", SEED)


def kinds(harness: Harness, stack: str) -> list[str]:
    return [run.kind for run in harness.runs(stack)]


async def test_an_output_change_replans_its_reader_and_nothing_else_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    repo = GitRepo(tmp_path / "source")
    repo.commit(
        "network feeds app",
        {"truenorth.yaml": SPEC.format(auto="true"), "network/main.tf": network(), "app/main.tf": APP},
    )
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=None)  # type: ignore[arg-type]
    harness.engine_registry = registry.EngineRegistry()
    try:
        ctl = await harness.start()
        assert kinds(harness, "network") == ["plan", "apply"]
        assert kinds(harness, "app") == ["plan", "apply"]
        assert harness.view("app").sync_state.value == "synced"

        repo.commit("another network resource", {"network/main.tf": network(other="two")})
        await harness.advance(POLL)
        assert kinds(harness, "network") == ["plan", "apply", "plan", "apply"]
        assert kinds(harness, "app") == ["plan", "apply"]  # its inputs did not change

        repo.commit("a new cidr", {"network/main.tf": network(cidr="10.9.0.0/16", other="two")})
        await harness.advance(POLL)
        assert kinds(harness, "network")[-2:] == ["plan", "apply"]
        app_runs = harness.runs("app")
        assert [run.kind for run in app_runs] == ["plan", "apply", "plan", "apply"]
        network_apply = harness.runs("network", kind="apply")[-1]
        assert app_runs[2].started_at >= network_apply.finished_at  # in dependency order
        replanned = app_runs[2]
        assert [(i["name"], i["source"], i["value"]) for i in replanned.summary["inputs"]] == [
            ("cidr", "network.cidr", "10.9.0.0/16"),
            ("token", "network.token", "(sensitive value)"),
        ]
        assert "10.9.0.0/16" in str(replanned.changes)
        shown = [str(ctl.stack("app")), str(ctl.stack_outputs("network")), str(ctl.current_plan("app"))]
        for run in harness.runs("app") + harness.runs("network"):
            shown.append(str(run))
            shown.extend(line for _, line in ctl.store.read_log(run.id))
        assert not [text for text in shown if CANARY in text]
    finally:
        await harness.stop()
    assert CANARY not in caplog.text
    data = tmp_path / "data"
    assert not [p for p in data.glob("truenorth.db*") if CANARY.encode() in p.read_bytes()]
    assert not [p for p in (data / "runs").rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]


async def test_a_reader_of_an_unapplied_stack_waits_and_is_never_applied(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit(
        "network waits",
        {"truenorth.yaml": SPEC.format(auto="false"), "network/main.tf": network(), "app/main.tf": APP},
    )
    harness = Harness(repo=repo, data_dir=tmp_path / "data", engine=None)  # type: ignore[arg-type]
    harness.engine_registry = registry.EngineRegistry()
    try:
        ctl = await harness.start()
        assert harness.view("network").sync_state.value == "pending-approval"
        app = harness.view("app")
        assert app.sync_state.value == "out-of-sync" and app.error is not None
        assert "known after network applies" in app.error
        assert kinds(harness, "app") == ["plan"]
        [waiting] = harness.runs("app")
        assert "cidr (network.cidr) is known after network applies" in "\n".join(
            line for _, line in ctl.store.read_log(waiting.id)
        )
        await harness.advance(POLL)
        assert kinds(harness, "app") == ["plan"]  # not planned again while nothing changed

        await ctl.approve("network", actor="alice")
        await harness.settle()
        assert kinds(harness, "app") == ["plan", "plan", "apply"]
        assert harness.view("app").sync_state.value == "synced"
    finally:
        await harness.stop()
