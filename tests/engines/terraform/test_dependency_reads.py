"""A dependent reads a consistent copy of its dependency's local state, never a half-written one.

Terraform rewrites a state file in place: a dependent planned while its dependency
applies (a preview, a drift check) could read the file empty or cut short, and a
``terraform_remote_state`` with ``defaults`` reads an empty state as "no outputs" and
plans with the defaults, silently. The engine copies each explicit dependency's state
into the working copy once it reads as a whole state (JSON with a ``serial``), reading
again a bounded number of times, and fails with an error naming the dependency when it
never does. Real Terraform; the dependency's state file is replaced by a cut one for the
duration of the read (until the engine waits to read it again: the apply "finishes").
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import Lab, stack
from truenorth.core import plans
from truenorth.engines import protocol
from truenorth.engines.terraform import TerraformEngine, preparing

pytestmark = pytest.mark.slow

NETWORK = """
resource "terraform_data" "vpc" {
  input = "10.7.0.0/16"
}

output "cidr" {
  value = terraform_data.vpc.output
}
"""

APP = """
data "terraform_remote_state" "network" {
  backend = "local"
  config = {
    path = ".truenorth/deps/network/terraform.tfstate"
  }
  defaults = {
    cidr = "DEFAULT"
  }
}

resource "terraform_data" "subnet" {
  input = data.terraform_remote_state.network.outputs.cidr
}
"""

FILES = {"stacks/network/main.tf": NETWORK, "stacks/app/main.tf": APP}


class ApplyEnds(threading.Event):
    """The operation's cancel event; the first time the engine waits on it to read the
    dependency's state again, the "apply" writing that state ends: its whole text is back."""

    def __init__(self, state: Path, whole: bytes) -> None:
        super().__init__()
        self.state, self.whole = state, whole
        self.rereads = 0

    def wait(self, timeout: float | None = None) -> bool:
        if self.state.read_bytes() != self.whole:
            self.rereads += 1
            self.state.write_bytes(self.whole)
        return super().wait(timeout)


def applied_network(lab: Lab, engine: TerraformEngine, checkout: Path) -> Path:
    network = stack("network")
    plan = engine.plan(lab.ctx(network, checkout))
    assert engine.apply(lab.ctx(network, checkout), plan).ok
    state = lab.data / "state" / "network" / "terraform.tfstate"
    assert b'"10.7.0.0/16"' in state.read_bytes()
    return state


def subnet_input(plan: plans.Plan) -> object:
    [change] = [item for item in plan.changes if item.address == "terraform_data.subnet"]
    return change.after["input"]


@pytest.mark.parametrize("cut", ["empty", "half"])
def test_a_dependency_state_cut_short_during_the_read_is_read_again_once_whole(
    lab: Lab, engine: TerraformEngine, cut: str
) -> None:
    checkout = lab.checkout(FILES)
    state = applied_network(lab, engine, checkout)
    whole = state.read_bytes()
    state.write_bytes(b"" if cut == "empty" else whole[: len(whole) // 2])
    cancel = ApplyEnds(state, whole)

    plan = engine.plan(lab.ctx(stack("app", depends_on=["network"]), checkout, cancel=cancel))

    assert cancel.rereads == 1  # the cut state was read, then the whole one
    assert subnet_input(plan) == "10.7.0.0/16"  # never the default
    assert state.read_bytes() == whole  # the dependency's own state is left as it is


def test_a_dependency_state_that_never_reads_whole_fails_the_plan_clearly(
    lab: Lab, engine: TerraformEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preparing, "_STATE_READS", 3)
    monkeypatch.setattr(preparing, "_STATE_REREAD_SECONDS", 0.01)
    checkout = lab.checkout(FILES)
    state = applied_network(lab, engine, checkout)
    state.write_bytes(b'{"version": 4, "outputs": {}}')  # JSON, but not a state: no serial

    with pytest.raises(protocol.EngineError) as caught:
        engine.plan(lab.ctx(stack("app", depends_on=["network"]), checkout))

    message = str(caught.value)
    assert "stack 'app': the state of its dependency 'network' (terraform.tfstate)" in message
    assert "is not a whole Terraform state" in message
    assert "after 3 reads" in message


def test_a_stack_sees_only_the_state_of_what_it_depends_on(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(FILES)
    applied_network(lab, engine, checkout)
    with pytest.raises(protocol.EngineError, match="Unable to find remote state"):
        engine.plan(lab.ctx(stack("app"), checkout))  # no depends_on: nothing of network is there
    reading = engine.plan(lab.ctx(stack("app", depends_on=["network"]), checkout))
    assert subnet_input(reading) == "10.7.0.0/16"
