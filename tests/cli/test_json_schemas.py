"""Every ``-o json`` document matches its JSON Schema in ``docs/schemas/`` (issue #15).

Real documents, from the CLI against a real repository and the real Terraform: a plan
with one stack planned and one failed, an apply, drift, status, history and an invalid
revision. A failed stack has the same fields as a planned one (``engine`` and
``unreachable_hosts`` included), and the example in ``docs/output-json.md`` validates too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "output-json.md"

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
  - name: broken
    engine: terraform
    path: stacks/broken
"""

NETWORK_TF = """\
resource "terraform_data" "vpc" {
  input = { cidr = "10.0.0.0/16", tags = { team = "net" } }
}
output "cidr" {
  value = "10.0.0.0/16"
}
"""


def check(name: str, document: Any) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.slow
@pytest.mark.xdist_group("terraform-cli")
def test_real_documents_match_their_schemas(tmp_path: Path, invoke: Invoke) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "a good stack and a broken one",
        {
            "truenorth.yaml": SPEC,
            "stacks/network/main.tf": NETWORK_TF,
            "stacks/broken/main.tf": 'resource "terraform_data" "x" {\n',
        },
    )

    planned = invoke("plan", repo.url, "-o", "json")
    assert planned.exit_code == 1, planned.stderr
    document = json.loads(planned.stdout)
    check("plan", document)
    broken = next(item for item in document["stacks"] if item["name"] == "broken")
    good = next(item for item in document["stacks"] if item["name"] == "network")
    assert broken["status"] == "failed" and broken["error"]
    assert (broken["engine"], broken["unreachable_hosts"]) == ("terraform", [])
    assert set(broken) == set(good)  # the same fields in every state

    applied = invoke("apply", repo.url, "--stack", "network", "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    check("plan", json.loads(applied.stdout))
    assert json.loads(applied.stdout)["applies"][0]["status"] == "succeeded"

    drifted = invoke("drift", repo.url, "-o", "json")
    document = json.loads(drifted.stdout)
    check("drift", document)
    by_name = {item["name"]: item for item in document["stacks"]}
    assert (by_name["network"]["status"], by_name["broken"]["status"]) == ("checked", "not-applied")
    assert set(by_name["network"]) == set(by_name["broken"])

    check("status", json.loads(invoke("status", "-o", "json").stdout))
    check("history", json.loads(invoke("history", "-o", "json").stdout))

    repo.commit("an invalid spec", {"truenorth.yaml": "stacks:\n  - name: x\n    engine: nope\n"})
    invalid = invoke("plan", repo.url, "-o", "json")
    assert invalid.exit_code == 1
    check("invalid", json.loads(invalid.stdout))


def test_the_documented_plan_example_matches_the_schema() -> None:
    """The first JSON block of docs/output-json.md, its ``//`` comments removed."""
    block = re.search(r"```json\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block is not None
    text = re.sub(r"[ \t]+//[^\n]*", "", block.group(1))
    check("plan", json.loads(text))
