"""A hostile Terraform stack against the sandbox: what a plan (never approved) and an apply reach.

The stack lives in a data dir laid out like the controller's: a database, another
stack's state it does not depend on, a dependency's state it declares, and the
controller's configuration next to it. Its plan evaluates ``file()`` on each of them
and on the controller's environment (``/proc/<pid>/environ``); its apply runs a
``local-exec`` that reads them, writes outside its folders and leaves a process behind.
Sandboxed, every attempt fails or finds nothing, nothing of it appears in any output,
and the declared dependency's state is read. Unconfined (``sandbox = "off"``) the same
plan reads the database: the test sees the difference.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import Lab, stack
from truenorth.core import plans
from truenorth.engines import sandbox
from truenorth.engines.terraform import TerraformEngine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("bwrap"),
]

CANARIES = {
    "db": "tn-hostile-database-canary-5d1c",
    "other": "tn-hostile-other-state-canary-8e2f",
    "config": "tn-hostile-config-canary-a41b",
    "env": "tn-hostile-controller-env-canary-37c9",
}
DEP_VALUE = "tn-dependency-output-is-readable"


def state_with_output(name: str, value: str) -> str:
    return json.dumps(
        {
            "version": 4,
            "terraform_version": "1.11.4",
            "serial": 1,
            "lineage": f"lineage-{name}",
            "outputs": {"value": {"value": value, "type": "string"}},
            "resources": [],
            "check_results": None,
        }
    )


def hostile_world(lab: Lab, tmp_path: Path) -> dict[str, Path]:
    paths = {
        "db": lab.data / "truenorth.db",
        "other": lab.data / "state" / "other" / "terraform.tfstate",
        "config": tmp_path / "truenorth.toml",
        "dep": lab.data / "state" / "dep" / "terraform.tfstate",
        "marks": tmp_path / "marks",
    }
    for name in ("db", "other", "config"):
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        text = (
            state_with_output(name, CANARIES[name]) if name == "other" else f"secret = {CANARIES[name]!r}\n"
        )
        paths[name].write_text(text)
    paths["dep"].parent.mkdir(parents=True)
    paths["dep"].write_text(state_with_output("dep", DEP_VALUE))
    paths["marks"].mkdir()
    return paths


def hostile_stack(paths: dict[str, Path], *, sleeper: str) -> str:
    pid = os.getpid()
    reads = " ".join(str(paths[name]) for name in ("db", "other", "config"))
    return f"""
data "terraform_remote_state" "dep" {{
  backend = "local"
  config  = {{ path = ".truenorth/deps/dep/terraform.tfstate" }}
}}

output "sees_db" {{ value = fileexists("{paths["db"]}") }}
output "db" {{ value = try(file("{paths["db"]}"), "none") }}
output "other" {{ value = try(file("{paths["other"]}"), "none") }}
output "other_as_dependency" {{ value = fileexists(".truenorth/deps/other/terraform.tfstate") }}
output "config" {{ value = try(file("{paths["config"]}"), "none") }}
output "controller_env" {{ value = try(file("/proc/{pid}/environ"), "none") }}
output "init_env" {{ value = try(file("/proc/1/environ"), "none") }}
output "dep" {{ value = data.terraform_remote_state.dep.outputs.value }}

resource "terraform_data" "hostile" {{
  provisioner "local-exec" {{
    command = <<-EOT
      cat {reads} /proc/{pid}/environ 2>&1 || true
      env
      echo pwned > {paths["marks"]}/PWNED_terraform 2>&1 || true
      echo pwned > {paths["db"]} 2>&1 || true
      (setsid sleep {sleeper} > /dev/null 2>&1 &)
      echo hostile-apply-done
    EOT
  }}
}}
"""


def outputs(plan: plans.Plan) -> dict[str, object]:
    return {
        change.address.removeprefix("output."): change.after
        for change in plan.changes
        if change.address.startswith("output.")
    }


def sleeping(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        for name, canary in CANARIES.items():
            assert canary not in text, f"the {name} canary leaked"


def test_a_hostile_plan_and_apply_reach_nothing_but_their_own(
    lab: Lab, engine: TerraformEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUENORTH_SECRET_UNREFERENCED", CANARIES["env"])  # the controller's, unreferenced
    paths = hostile_world(lab, tmp_path)
    before = {name: paths[name].read_bytes() for name in ("db", "other", "config", "dep")}
    sleeper = f"3000.{time.monotonic_ns() % 10**6:06d}"
    checkout = lab.checkout({"stacks/mine/main.tf": hostile_stack(paths, sleeper=sleeper)})
    spec = stack("mine", depends_on=["dep"])

    plan = engine.plan(lab.ctx(spec, checkout))
    seen = outputs(plan)
    assert plan.meta["sandbox"] == "bubblewrap"
    assert seen["sees_db"] is False and seen["other_as_dependency"] is False
    for name in ("db", "other", "config", "controller_env"):
        assert seen[name] == "none", f"the plan read {name}"
    assert seen["dep"] == DEP_VALUE, "a declared dependency's state is readable"
    assert isinstance(seen["init_env"], str) and "TF_DATA_DIR" in seen["init_env"]  # its own, only
    assert_no_canary(json.dumps(plan.to_dict()), "\n".join(lab.lines), str(seen["init_env"]))

    result = engine.apply(lab.ctx(spec, checkout), plan)
    assert result.ok, result.error
    assert "hostile-apply-done" in result.output
    assert_no_canary(result.output, result.error, "\n".join(lab.lines))
    assert not (paths["marks"] / "PWNED_terraform").exists(), "it wrote outside its folders"
    assert {name: paths[name].read_bytes() for name in before} == before
    assert sleeping(sleeper) == [], "a process outlived the apply"
    assert result.plan is not None and result.plan.meta["apply_sandbox"] == "bubblewrap"


def test_unconfined_the_same_plan_reads_the_database(
    lab: Lab, engine: TerraformEngine, tmp_path: Path
) -> None:
    # What the sandbox prevents: with sandbox = "off", the plan sees the controller's files.
    paths = hostile_world(lab, tmp_path)
    checkout = lab.checkout({"stacks/mine/main.tf": hostile_stack(paths, sleeper="1")})
    off = sandbox.Policy(mode=sandbox.Mode.OFF)
    plan = engine.plan(lab.ctx(stack("mine", depends_on=["dep"]), checkout, sandbox=off))
    assert plan.meta["sandbox"] == "off"
    assert outputs(plan)["sees_db"] is True
