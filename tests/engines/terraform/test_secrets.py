"""Case 9: a sensitive canary never leaves Terraform's own state and plan files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import Lab, stack
from truenorth.engines.terraform import TerraformEngine

pytestmark = pytest.mark.slow

CANARY = "CANARY-7f3a9c-do-not-leak"

VAULT = f"""
variable "secret" {{
  type      = string
  sensitive = true
  default   = "{CANARY}"
}}

resource "terraform_data" "holder" {{
  input = var.secret
}}

output "secret" {{
  value     = var.secret
  sensitive = true
}}

output "plain" {{
  value = "visible"
}}
"""

# Reads the vault's sensitive output through remote state, where Terraform forgets that
# it is sensitive, and puts it into a resource and a non-sensitive output.
CONSUMER = """
data "terraform_remote_state" "vault" {
  backend = "local"
  config  = { path = ".truenorth/deps/vault/terraform.tfstate" }
}

resource "terraform_data" "uses" {
  input = data.terraform_remote_state.vault.outputs.secret
}

output "copied" {
  value = data.terraform_remote_state.vault.outputs.secret
}
"""


def terraform_own(state_dir: Path, path: Path) -> bool:
    """Terraform's own artifacts, which hold secrets by design."""
    rel = path.relative_to(state_dir)
    return (
        rel.parts[0].startswith("terraform.tfstate")  # state, backups, workspace states
        or path.suffix == ".tfplan"
    )


def test_sensitive_canary_never_leaks(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"stacks/vault/main.tf": VAULT, "stacks/consumer/main.tf": CONSUMER})
    vault, consumer = stack("vault"), stack("consumer", depends_on=["vault"])
    shown: list[str] = []

    for spec in (vault, consumer):
        plan = engine.plan(lab.ctx(spec, checkout))
        assert plan.has_changes
        shown += [json.dumps(plan.to_dict()), plan.output, repr(plan)]
        result = engine.apply(lab.ctx(spec, checkout), plan)
        assert result.ok, result.error
        shown += [result.output, result.error, repr(result)]
        again = engine.plan(lab.ctx(spec, checkout))
        assert not again.has_changes
        shown += [json.dumps(again.to_dict()), again.output]
        drift = engine.drift(lab.ctx(spec, checkout))
        shown += [json.dumps(drift.to_dict()), drift.output]
    # The consumer's plan did show the copied value, masked.
    assert any("***" in text for text in shown)

    assert lab.lines, "output was streamed"
    shown += lab.lines
    for text in shown:
        assert CANARY not in text

    run_files = [path for path in (lab.data / "runs").rglob("*") if path.is_file()]
    assert run_files
    for path in run_files:
        assert CANARY not in path.read_text(errors="replace"), path

    own = []
    for spec in (vault, consumer):
        state_dir = lab.data / "state" / spec.name
        for path in state_dir.rglob("*"):
            if not path.is_file():
                continue
            if terraform_own(state_dir, path):
                own.append(path)
                continue
            assert CANARY.encode() not in path.read_bytes(), path
        for plan_file in state_dir.glob("plans/*.tfplan"):
            assert plan_file.stat().st_mode & 0o077 == 0
    # The test is meaningful: Terraform's own state does hold the canary.
    assert any(CANARY.encode() in path.read_bytes() for path in own)
