"""Hostile repository content: symlinks and var files that lead out are refused (cases 1, 2)."""

from __future__ import annotations

import pytest

from tests.engines.terraform.conftest import Lab, stack
from truenorth.engines.protocol import EngineError
from truenorth.engines.terraform import TerraformEngine

pytestmark = pytest.mark.slow

MAIN = 'resource "terraform_data" "x" { input = "x" }\n'


@pytest.mark.parametrize(
    "target",
    ["/etc/hostname", "../other", "../../outside.txt"],
    ids=["absolute", "other-stack", "outside-checkout"],
)
def test_symlink_leaving_the_stack_folder_is_refused(lab: Lab, engine: TerraformEngine, target: str) -> None:
    (lab.root / "snapshots").mkdir(parents=True, exist_ok=True)
    (lab.root / "snapshots" / "outside.txt").write_text("secret\n")
    checkout = lab.checkout(
        {"stacks/app/main.tf": MAIN, "stacks/other/main.tf": MAIN},
        links={"stacks/app/data.txt": target},
    )
    with pytest.raises(
        EngineError, match=r"stack 'app': symlink 'stacks/app/data.txt' points outside the stack folder"
    ):
        engine.plan(lab.ctx(stack("app"), checkout))
    assert not (lab.data / "state" / "app" / "data").exists()  # nothing ran


def test_symlink_inside_the_stack_folder_is_fine(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(
        {
            "stacks/app/main.tf": 'resource "terraform_data" "x" { input = file("${path.module}/link.txt") }\n',
            "stacks/app/real.txt": "hello",
        },
        links={"stacks/app/link.txt": "real.txt"},
    )
    plan = engine.plan(lab.ctx(stack("app"), checkout))
    assert plan.changes[0].after["input"] == "hello"


def test_stack_folder_reached_through_a_symlink_is_refused(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"real/main.tf": MAIN}, links={"stacks/app": "../real"})
    with pytest.raises(EngineError, match=r"stack 'app': symlink 'stacks/app'"):
        engine.plan(lab.ctx(stack("app"), checkout))


def test_missing_stack_folder(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"stacks/other/main.tf": MAIN})
    with pytest.raises(EngineError, match=r"stack 'app': folder 'stacks/app' does not exist"):
        engine.plan(lab.ctx(stack("app"), checkout))


@pytest.mark.parametrize(
    ("var_file", "message"),
    [
        ("../outside.tfvars", "contains '..'"),
        ("/etc/hostname", "is absolute"),
        ("vars/linked.tfvars", "resolves outside the repository"),
        ("vars/missing.tfvars", "var file 'vars/missing.tfvars' does not exist"),
    ],
)
def test_var_files_outside_the_checkout_are_refused(
    lab: Lab, engine: TerraformEngine, var_file: str, message: str
) -> None:
    outside = lab.root / "outside.tfvars"
    outside.write_text('x = "stolen"\n')
    checkout = lab.checkout({"stacks/app/main.tf": MAIN}, links={"vars/linked.tfvars": str(outside)})
    with pytest.raises(EngineError, match=rf"stack 'app': .*{message}"):
        engine.plan(lab.ctx(stack("app", var_files=(var_file,)), checkout))
