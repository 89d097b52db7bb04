"""The demo's Ansible stack (``examples/demo/stacks/hosts``) plans, converges and shows drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines.ansible.conftest import Lab
from truenorth.core import plans, runs, specs
from truenorth.engines.ansible import AnsibleEngine

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "demo" / "stacks" / "hosts"

#: The entry the demo's truenorth.yaml uses (``BASE_DIR`` is filled in by the demo script).
SPEC_ENTRY = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
  - name: hosts
    engine: ansible
    path: stacks/hosts
    depends_on: [network]
    auto_apply: true
    drift_interval: 5m
    inventory: inventory.yml
    extra_vars:
      base_dir: BASE_DIR
      network_name: demo-vpc
      cidr: 10.42.0.0/16
"""


@pytest.mark.slow
def test_demo_hosts_stack_converges_and_detects_drift(lab: Lab, engine: AnsibleEngine) -> None:
    files: dict[str, str | bytes] = {
        f"stacks/hosts/{path.relative_to(EXAMPLE)}": path.read_bytes()
        for path in EXAMPLE.rglob("*")
        if path.is_file()
    }
    files["truenorth.yaml"] = SPEC_ENTRY.replace("BASE_DIR", str(lab.hosts_dir))
    sha, checkout = lab.commit(files)
    spec = specs.parse_spec((checkout / "truenorth.yaml").read_text()).stack("hosts")
    assert spec.depends_on == ("network",)

    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.summary.hosts_changed == 2
    config = next(c for c in plan.changes if c.address == "web2: network settings")
    assert "+role = backend" in config.diff and "+cidr = 10.42.0.0/16" in config.diff

    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert "network = demo-vpc" in (lab.hosts_dir / "web1" / "network.conf").read_text()
    assert not engine.plan(lab.ctx(spec, checkout, revision=sha)).has_changes

    (lab.hosts_dir / "web2" / "motd").write_text("hello\n")
    drift = engine.drift(lab.ctx(spec, checkout, revision=sha))
    assert drift.meta["drifted_hosts"] == ["web2"]
    assert [c.address for c in drift.changes if c.action is plans.Action.UPDATE] == [
        "web2: message of the day"
    ]
