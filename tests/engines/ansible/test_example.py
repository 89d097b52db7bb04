"""The demo's Ansible stack (``examples/demo/stacks/hosts``) plans, converges and shows drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engines.ansible.conftest import Lab, everything_under
from truenorth.core import outputs, plans, runs, specs
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
    auto_apply: true
    drift_interval: 5m
    inventory: inventory.yml
    inputs:
      network_name: network.name
      cidr: network.cidr
      dns_servers: network.dns_servers
      api_token: network.api_token
    extra_vars:
      base_dir: BASE_DIR
"""
TOKEN = "demo-token-canary-5f0c1d"


def _input(name: str, output: str, value: Any, *, sensitive: bool = False) -> outputs.InputValue:
    ref = outputs.InputRef(name=name, stack="network", output=output)
    return outputs.InputValue(ref=ref, value=value, sensitive=sensitive)


#: What the network stack's outputs give the hosts stack.
INPUTS = {
    "network_name": _input("network_name", "name", "demo-vpc"),
    "cidr": _input("cidr", "cidr", "10.42.0.0/16"),
    "dns_servers": _input("dns_servers", "dns_servers", ["10.42.0.2"]),
    "api_token": _input("api_token", "api_token", TOKEN, sensitive=True),
}


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
    assert spec.depends_on == ("network",), "an input implies depends_on"

    plan = engine.plan(lab.ctx(spec, checkout, revision=sha, inputs=INPUTS))
    assert plan.summary.hosts_changed == 2
    config = next(c for c in plan.changes if c.address == "web2: network settings")
    assert "+role = backend" in config.diff and "+cidr = 10.42.0.0/16" in config.diff
    assert [item.ref.source for item in plan.inputs] == [
        "network.api_token",
        "network.cidr",
        "network.dns_servers",
        "network.name",
    ]

    result = engine.apply(lab.ctx(spec, checkout, revision=sha, inputs=INPUTS), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert "network = demo-vpc" in (lab.hosts_dir / "web1" / "network.conf").read_text()
    assert (lab.hosts_dir / "web1" / "api-token").read_text() == f"{TOKEN}\n"
    assert {item.name: item.value for item in result.outputs} == {
        "configured_hosts": ["web1", "web2"],
        "network_conf": "network.conf",
    }
    assert TOKEN not in "\n".join([*lab.lines, everything_under(lab.root / "data")])
    assert not engine.plan(lab.ctx(spec, checkout, revision=sha, inputs=INPUTS)).has_changes

    (lab.hosts_dir / "web2" / "motd").write_text("hello\n")
    drift = engine.drift(lab.ctx(spec, checkout, revision=sha, inputs=INPUTS))
    assert drift.meta["drifted_hosts"] == ["web2"]
    assert [c.address for c in drift.changes if c.action is plans.Action.UPDATE] == [
        "web2: message of the day"
    ]
