"""Stack outputs feeding inputs on the CLI's local path, with the real Terraform engine.

``truenorth plan`` of a repository whose upstream stack was never applied shows the
dependent's inputs as "(known after network applies)" and exits 2 (changes present);
``truenorth apply`` applies network, records its outputs, plans app again with the known
values and applies it; ``truenorth outputs`` shows them, the sensitive one masked; the
sensitive value (computed by Terraform, never in Git) is in no output, database row or
file truenorth writes outside Terraform's own state.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

pytestmark = pytest.mark.slow

SEED = "seed-of-the-cli-outputs-test"
#: What Terraform computes from SEED: the sensitive output's value.
CANARY = hashlib.sha256(SEED.encode()).hexdigest()

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: network
  - name: app
    engine: terraform
    path: app
    inputs:
      cidr: network.cidr
      token: network.token
"""

NETWORK = """\
resource "terraform_data" "vpc" {
  input = "10.0.0.0/16"
}

output "cidr" {
  value = terraform_data.vpc.output
}

output "token" {
  value     = sha256("SEED")
  sensitive = true
}
""".replace("SEED", SEED)

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


def test_plan_waits_apply_feeds_outputs_shows_and_the_secret_stays_secret(
    tmp_path: Path, invoke: Invoke, data_dir: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("network feeds app", {"truenorth.yaml": SPEC, "network/main.tf": NETWORK, "app/main.tf": APP})
    printed: list[str] = []

    planned = invoke("plan", repo.url)
    printed.append(planned.stdout + planned.stderr)
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    assert "cidr = (known after network applies)  (from network.cidr)" in planned.stdout
    assert "Not planned yet: waiting for input cidr (known after network applies)" in planned.stdout
    as_json = invoke("plan", repo.url, "-o", "json")
    printed.append(as_json.stdout)
    app = json.loads(as_json.stdout)["stacks"][1]
    assert app["waiting"] is True and app["has_changes"] is True
    assert [(i["name"], i["source"], i["known"]) for i in app["inputs"]] == [
        ("cidr", "network.cidr", False),
        ("token", "network.token", False),
    ]

    applied = invoke("apply", repo.url, "--yes")
    printed.append(applied.stdout + applied.stderr)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "app (planned again: its dependencies changed)" in applied.stdout
    assert 'cidr = "10.0.0.0/16"  (from network.cidr)' in applied.stdout
    assert "token = (sensitive value)  (from network.token)" in applied.stdout

    again = invoke("plan", repo.url)
    printed.append(again.stdout + again.stderr)
    assert again.exit_code == 0, again.stdout  # inputs known and unchanged: nothing to do

    shown = invoke("outputs", "network", "--repo", repo.url, "--data-dir", str(data_dir), "-o", "json")
    printed.append(shown.stdout + shown.stderr)
    assert shown.exit_code == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert [(o["name"], o["value"], o["sensitive"]) for o in found["outputs"]] == [
        ("cidr", "10.0.0.0/16", False),
        ("token", "(sensitive value)", True),
    ]
    table = invoke("outputs", "network", "--repo", repo.url, "--data-dir", str(data_dir))
    printed.append(table.stdout)
    assert "(sensitive value)" in table.stdout and "10.0.0.0/16" in table.stdout
    history = invoke("history", "-o", "json")
    printed.append(history.stdout)

    assert not [text for text in printed if CANARY in text]
    # At rest: only Terraform's own state holds the value (the database seals it).
    leaking = [
        path
        for path in data_dir.rglob("*")
        if path.is_file()
        and CANARY.encode() in path.read_bytes()
        and "state" not in path.relative_to(data_dir).parts
    ]
    assert leaking == []
    assert any(CANARY.encode() in path.read_bytes() for path in (data_dir / "state").rglob("*.tfstate"))
