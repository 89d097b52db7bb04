"""Input-move tracking across a controller restart (the same holds for a new owner).

A stack that only reads another's outputs is planned again exactly when an output it
reads changed since its last plan (``docs/inputs-and-outputs.md``). What that plan read is
remembered by the loop that made it; a restarted controller (or a replica that took the
repository over) reads it back from the plan's record in the store instead
(``resolving.recorded_basis``). The first pass after a restart still plans every stack
once (its old spec is not known: "new stack"); what the record decides is what comes
after for a stack the new loop did not plan itself: here an approval applies the plan
made before the restart while its upstream's plan fails, so the loop never plans it.
Before the record was read back, such a stack was never planned again for a changed
input, and ran on with the old value.

The engine is the in-test :class:`~tests.controller.engines.FakeEngine` (it counts its
calls); the ``slow`` test does the same with real Terraform.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from truenorth.controller.runs import registry
from truenorth.core import inputs, outputs

#: Input-only dependents of ``network`` in the restart count.
DEPENDENTS = 5


def spec(*, dependents: int, dependent_auto: bool) -> str:
    text = (
        "stacks:\n  - name: network\n    engine: terraform\n    path: stacks/network\n    auto_apply: true\n"
    )
    for index in range(dependents):
        text += (
            f"  - name: app{index}\n    engine: terraform\n    path: stacks/app{index}\n"
            f"    auto_apply: {str(dependent_auto).lower()}\n    inputs:\n      cidr: network.cidr\n"
        )
    return text


def cidr_outputs(cidr: str) -> str:
    return json.dumps({"cidr": {"value": cidr}})


def files(*, dependents: int, dependent_auto: bool = True) -> dict[str, str]:
    found = {
        "truenorth.yaml": spec(dependents=dependents, dependent_auto=dependent_auto),
        "stacks/network/main.txt": "network v1\n",
        "stacks/network/outputs.json": cidr_outputs("10.0.0.0/16"),
    }
    found.update({f"stacks/app{index}/main.txt": f"app{index} v1\n" for index in range(dependents)})
    return found


def restarted(harness: Harness) -> Harness:
    """A new controller (a fresh engine counting its calls) on ``harness``'s data dir."""
    return Harness(repo=harness.repo, data_dir=harness.data_dir, engine=FakeEngine())


async def test_a_restart_plans_each_input_only_dependent_once_then_only_when_its_input_moves(
    tmp_path: Path,
) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit("network feeds five stacks", files(dependents=DEPENDENTS))
    first = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    try:
        await first.start()
        assert len(first.engine.calls) == 2 * (DEPENDENTS + 1)  # each stack planned and applied
    finally:
        await first.stop()

    harness = restarted(first)
    try:
        await harness.start()
        # The first pass plans every stack once (nothing to change), and applies nothing.
        assert sorted(harness.engine.kinds()) == sorted(
            [("network", "plan")] + [(f"app{index}", "plan") for index in range(DEPENDENTS)]
        )
        harness.engine.calls.clear()
        await harness.advance(POLL)
        assert harness.engine.calls == []

        # network changes, its outputs do not: only network is planned and applied.
        repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
        await harness.advance(POLL)
        assert harness.engine.kinds() == [("network", "plan"), ("network", "apply")]

        # Its output changes: each dependent is planned again, and applied with the value.
        harness.engine.calls.clear()
        repo.commit("a new cidr", {"stacks/network/outputs.json": cidr_outputs("10.1.0.0/16")})
        await harness.advance(POLL)
        assert sorted(harness.engine.kinds()) == sorted(
            [("network", "plan"), ("network", "apply")]
            + [(f"app{index}", kind) for index in range(DEPENDENTS) for kind in ("plan", "apply")]
        )
        assert {harness.engine.inputs[(f"app{i}", "apply")]["cidr"] for i in range(DEPENDENTS)} == {
            "10.1.0.0/16"
        }
    finally:
        await harness.stop()


async def test_after_a_restart_an_approved_stack_is_planned_again_exactly_when_its_input_moves(
    tmp_path: Path,
) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit("app waits for approval", files(dependents=1, dependent_auto=False))
    first = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    try:
        await first.start()
        assert first.view("app0").sync_state.value == "pending-approval"
    finally:
        await first.stop()

    # While the controller is down, network's plans start failing.
    failing = tmp_path / "source" / "stacks" / "network" / "FAIL_PLAN"
    repo.commit("network breaks", {"stacks/network/FAIL_PLAN": "on purpose\n"})
    harness = restarted(first)
    try:
        ctl = await harness.start()
        assert harness.engine.kinds() == [("network", "plan")]  # failed: app0 is skipped, not planned
        # The plan made before the restart is approved: this loop never planned app0.
        await ctl.approve("app0", actor="alice")
        await harness.settle()
        assert harness.engine.kinds("app0") == [("app0", "apply")]
        assert harness.view("app0").sync_state.value == "synced"

        # network works again (as it was applied: nothing to change), its outputs as they
        # were: app0 is not planned again.
        failing.unlink()
        harness.engine.calls.clear()
        repo.commit("network works again")
        await harness.advance(POLL)
        assert harness.engine.kinds() == [("network", "plan")]

        # The output app0 reads changes: app0 is planned again with it, and held for approval.
        harness.engine.calls.clear()
        repo.commit("a new cidr", {"stacks/network/outputs.json": cidr_outputs("10.1.0.0/16")})
        await harness.advance(POLL)
        assert harness.engine.kinds() == [("network", "plan"), ("network", "apply"), ("app0", "plan")]
        assert harness.engine.inputs[("app0", "plan")] == {"cidr": "10.1.0.0/16"}
        assert harness.view("app0").sync_state.value == "pending-approval"
        replanned = harness.runs("app0", kind="plan")[-1]
        assert [(i["name"], i["value"]) for i in replanned.summary["inputs"]] == [("cidr", "10.1.0.0/16")]
    finally:
        await harness.stop()


NETWORK_TF = """\
resource "terraform_data" "vpc" {
  input = "CIDR"
}

resource "terraform_data" "other" {
  input = "OTHER"
}

output "cidr" {
  value = terraform_data.vpc.output
}
"""

APP_TF = """\
variable "cidr" {
  type = string
}

resource "terraform_data" "subnet" {
  input = var.cidr
}
"""

TF_SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: network
    auto_apply: true
  - name: app
    engine: terraform
    path: app
    auto_apply: false
    inputs:
      cidr: network.cidr
"""


def network_tf(*, cidr: str = "10.0.0.0/16", other: str = "one") -> str:
    return NETWORK_TF.replace("CIDR", cidr).replace("OTHER", other)


def real(harness: Harness) -> Harness:
    harness.engine_registry = registry.EngineRegistry()
    return harness


@pytest.mark.slow
async def test_real_terraform_after_a_restart_an_approved_stack_is_planned_again_when_its_input_moves(
    tmp_path: Path,
) -> None:
    repo = GitRepo(tmp_path / "source")
    repo.commit(
        "network feeds app",
        {"truenorth.yaml": TF_SPEC, "network/main.tf": network_tf(), "app/main.tf": APP_TF},
    )
    first = real(Harness(repo=repo, data_dir=tmp_path / "data", engine=None))  # type: ignore[arg-type]
    try:
        await first.start()
        assert first.view("app").sync_state.value == "pending-approval"
    finally:
        await first.stop()

    repo.commit("network breaks", {"network/main.tf": network_tf() + "\nresource {\n"})
    harness = real(Harness(repo=repo, data_dir=tmp_path / "data", engine=None))  # type: ignore[arg-type]
    try:
        ctl = await harness.start()
        assert [run.status for run in harness.runs("network", kind="plan")][-1] == "failed"
        await ctl.approve("app", actor="alice")
        await harness.settle()
        assert harness.view("app").sync_state.value == "synced"
        plans_before = len(harness.runs("app", kind="plan"))

        repo.commit("network works again", {"network/main.tf": network_tf(other="two")})
        await harness.advance(POLL)
        assert harness.runs("network")[-1].kind == "apply"
        assert len(harness.runs("app", kind="plan")) == plans_before  # its input did not move

        repo.commit("a new cidr", {"network/main.tf": network_tf(cidr="10.9.0.0/16", other="two")})
        await harness.advance(POLL)
        app_plans = harness.runs("app", kind="plan")
        assert len(app_plans) == plans_before + 1
        assert [(i["name"], i["value"]) for i in app_plans[-1].summary["inputs"]] == [("cidr", "10.9.0.0/16")]
        assert harness.view("app").sync_state.value == "pending-approval"
    finally:
        await harness.stop()


def test_the_recorded_basis_of_a_plan_is_what_its_record_says() -> None:
    refs = (
        outputs.InputRef("cidr", "network", "cidr"),
        outputs.InputRef("token", "network", "token"),
        outputs.InputRef("zone", "dns", "zone"),
        outputs.InputRef("moved", "network", "new_name"),
    )
    recorded = [
        {"name": "cidr", "source": "network.cidr", "known": True, "digest": "d1"},
        {"name": "token", "source": "network.token", "known": False, "digest": ""},
        {"name": "moved", "source": "network.old_name", "known": True, "digest": "d2"},
    ]
    basis = inputs.recorded_basis(refs, recorded)
    # zone is not in the record and moved names another output now: both rest on nothing.
    assert basis == {"cidr": "value d1", "token": inputs.UNKNOWN_BASIS}
    assert inputs.same_basis("value d1", basis["cidr"])
    assert not inputs.same_basis("value d9", basis["cidr"])
    # Not known then, not known now (whatever the reason): the same; known now: moved.
    assert inputs.same_basis("not applied", inputs.UNKNOWN_BASIS)
    assert inputs.same_basis("pending plan over d1", inputs.UNKNOWN_BASIS)
    assert not inputs.same_basis("value d1", inputs.UNKNOWN_BASIS)
    assert not inputs.same_basis("value d1", None)
