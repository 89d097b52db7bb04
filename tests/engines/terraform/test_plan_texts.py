"""The plan's text is Terraform's own rendering of the saved plan (issue #15), with the real binary."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import TERRAFORM, Lab, stack
from truenorth.engines.terraform import TerraformEngine, renderings

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[2] / "data" / "terraform" / "configs"


def test_the_plan_text_is_what_terraform_show_prints(
    lab: Lab, engine: TerraformEngine, tmp_path: Path
) -> None:
    """No extra process: ``terraform plan``'s own output, progress lines dropped, equals
    ``terraform show PLANFILE`` of the saved plan; the secret output stays masked."""
    spec = stack("nested")
    first = lab.checkout({"stacks/nested/main.tf": (CONFIGS / "nested-v1" / "main.tf").read_text()})
    applied = engine.apply(
        lab.ctx(spec, first, revision="1" * 40), engine.plan(lab.ctx(spec, first, revision="1" * 40))
    )
    assert applied.ok, applied.error
    second = lab.checkout(
        {"stacks/nested/main.tf": (CONFIGS / "nested-v2" / "main.tf").read_text()}, name="rev2"
    )
    plan = engine.plan(lab.ctx(spec, second, revision="2" * 40))

    assert plan.meta[renderings.NATIVE_TEXT] is True
    assert plan.artifact is not None
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TF_CLI_CONFIG_FILE": os.devnull}
    shown = subprocess.run(
        [TERRAFORM, "show", "-no-color", plan.artifact],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert plan.output == shown.strip("\n") + "\n"
    assert "Refreshing state" not in plan.output
    assert '+ team  = "infra"' in plan.output and '~ "zone-9" -> "zone-nine",' in plan.output
    assert "~ password = (sensitive value)" in plan.output and "canary-nested" not in plan.output
    assert any("Refreshing state" in line for line in lab.lines)  # the run's log still has them
