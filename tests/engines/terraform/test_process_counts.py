"""How many Terraform processes a change costs: ``init`` once, the plan's JSON read once.

A change is ``plan`` + ``show -json`` + ``apply``; ``init`` runs only when what it reads
changes (providers, modules, the backend, the lock file, the CLI configuration), and
again when Terraform says it is needed all the same. The processes are counted at
:func:`truenorth.engines.processes.run`, through which every Terraform command starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines.terraform.conftest import TERRAFORM, Lab, stack
from truenorth.engines import processes
from truenorth.engines.terraform import TerraformEngine, invoking

pytestmark = pytest.mark.slow

MAIN = """
module "labels" {
  source = "../../modules/labels"
  name   = "%(name)s"
}

resource "terraform_data" "one" {
  input = { label = module.labels.label, size = %(size)d }
}

output "label" { value = module.labels.label }
"""
LABELS = 'variable "name" { type = string }\noutput "label" { value = "team-${var.name}" }\n'
# A provider requirement that needs no network (the builtin provider).
PROVIDERS = """
terraform {
  required_providers {
    terraform = { source = "terraform.io/builtin/terraform" }
  }
}
"""


class Commands:
    """The Terraform subcommands started, in order (``init``, ``plan``, ``show``...)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def take(self) -> list[str]:
        found, self.seen = self.seen, []
        return found


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[Commands]:
    counted = Commands()
    real = processes.run

    def counting(argv: list[str], **kwargs: Any) -> processes.ProcessResult:
        counted.seen.append(argv[1])
        return real(argv, **kwargs)

    monkeypatch.setattr(invoking.processes, "run", counting)
    yield counted


def files(*, name: str = "net", size: int = 1, extra: str = "") -> dict[str, str]:
    found = {"stacks/net/main.tf": MAIN % {"name": name, "size": size}, "modules/labels/main.tf": LABELS}
    if extra:
        found["stacks/net/versions.tf"] = extra
    return found


def converge(lab: Lab, engine: TerraformEngine, checkout: Path, revision: str) -> None:
    """Plan and apply ``checkout``."""
    spec = stack("net")
    plan = engine.plan(lab.ctx(spec, checkout, revision=revision))
    assert plan.has_changes
    result = engine.apply(lab.ctx(spec, checkout, revision=revision), plan)
    assert result.ok, result.error


def test_a_change_is_plan_show_apply_and_init_only_when_its_inputs_change(
    lab: Lab, engine: TerraformEngine, commands: Commands
) -> None:
    converge(lab, engine, lab.checkout(files(), name="r1"), "1" * 40)
    assert commands.take() == ["version", "init", "plan", "show", "apply"]  # version: once per engine

    # A resource's arguments, a module's input and the module's own code: no init.
    converge(lab, engine, lab.checkout(files(name="web", size=2), name="r2"), "2" * 40)
    assert commands.take() == ["plan", "show", "apply"]
    changed_module = files(name="web", size=2)
    changed_module["modules/labels/main.tf"] = LABELS.replace("team-", "squad-")
    converge(lab, engine, lab.checkout(changed_module, name="r3"), "3" * 40)
    assert commands.take() == ["plan", "show", "apply"]

    # A provider requirement: init, once.
    converge(lab, engine, lab.checkout(files(size=3, extra=PROVIDERS), name="r4"), "4" * 40)
    assert commands.take() == ["init", "plan", "show", "apply"]
    converge(lab, engine, lab.checkout(files(size=4, extra=PROVIDERS), name="r5"), "5" * 40)
    assert commands.take() == ["plan", "show", "apply"]

    # A module source: init.
    moved = files(size=5, extra=PROVIDERS)
    moved["stacks/net/main.tf"] = moved["stacks/net/main.tf"].replace("modules/labels", "modules/tags")
    moved["modules/tags/main.tf"] = LABELS
    converge(lab, engine, lab.checkout(moved, name="r6"), "6" * 40)
    assert commands.take() == ["init", "plan", "show", "apply"]


def test_an_apply_by_another_engine_reads_the_plan_file_itself(
    lab: Lab, engine: TerraformEngine, commands: Commands
) -> None:
    """The reading is kept in memory: an engine that did not make the plan shows it again."""
    checkout = lab.checkout(files())
    spec = stack("net")
    plan = engine.plan(lab.ctx(spec, checkout, revision="1" * 40))
    commands.take()
    other = TerraformEngine(binary_paths={"terraform": TERRAFORM})
    assert other.apply(lab.ctx(spec, checkout, revision="1" * 40), plan).ok
    assert commands.take() == ["version", "show", "apply"]


def test_init_runs_when_terraform_says_it_is_needed(
    lab: Lab, engine: TerraformEngine, commands: Commands
) -> None:
    """What the key cannot see (installed modules removed by hand): the plan asks, init runs."""
    checkout = lab.checkout(files())
    spec = stack("net")
    engine.plan(lab.ctx(spec, checkout, revision="1" * 40))
    commands.take()
    modules = lab.data / "state" / "net" / "data" / "modules"
    assert modules.is_dir()
    for path in sorted(modules.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    plan = engine.plan(lab.ctx(spec, checkout, revision="1" * 40))
    assert plan.has_changes and plan.meta["init_ran"] is True
    assert commands.take() == ["plan", "init", "plan", "show"]
