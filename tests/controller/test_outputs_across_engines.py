"""Outputs flow across engines through the controller: Terraform to Ansible to Kubernetes.

The issue's acceptance test. A Terraform ``network`` stack's outputs feed an Ansible
``hosts`` stack (extra vars) and a Kubernetes ``config`` stack (``${NAME}`` substitution
into a ConfigMap and, for the sensitive one, a Secret). Changing one Terraform output in
Git converges, through the controller, exactly the stacks that read it, in dependency
order, with plans that name where each input came from; a stack that reads another,
unchanged output is not planned again. The sensitive output is a value Git never holds
(a hash Terraform computes), and it appears in no database row, log line, API answer,
run artifact or plan: only in Terraform's own state, the Secret on the cluster and the
file the Ansible play writes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks
from truenorth.engines import sandbox

pytestmark = [pytest.mark.slow]

SEED = "seed-for-the-outputs-test"
#: What Terraform computes from SEED: never in Git, never in a file truenorth writes.
CANARY = hashlib.sha256(SEED.encode()).hexdigest()

NETWORK = """\
variable "cidr" {
  type = string
}

resource "terraform_data" "vpc" {
  input = var.cidr
}

output "cidr" {
  value = terraform_data.vpc.output
}

output "name" {
  value = "demo-vpc"
}

output "token" {
  value     = sha256("SEED")
  sensitive = true
}
""".replace("SEED", SEED)

READER = """\
variable "network_name" {
  type = string
}

resource "terraform_data" "tag" {
  input = var.network_name
}
"""

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: network
    auto_apply: true
    vars:
      cidr: {cidr}
  - name: reader
    engine: terraform
    path: reader
    auto_apply: true
    inputs:
      network_name: network.name
  - name: hosts
    engine: ansible
    path: hosts
    inventory: inventory.yml
    auto_apply: true
    extra_vars:
      base_dir: {base_dir}
    inputs:
      cidr: network.cidr
      token: network.token
  - name: config
    engine: kubernetes
    path: k8s
    target: demo
    namespace: shop
    auto_apply: true
    wait: false
    inputs:
      cidr: network.cidr
      token: network.token
"""

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: network settings
      ansible.builtin.copy:
        dest: "{{ base_dir }}/{{ inventory_hostname }}.conf"
        content: "cidr = {{ cidr }}\\n"
        mode: "0644"
    - name: token
      ansible.builtin.copy:
        dest: "{{ base_dir }}/{{ inventory_hostname }}.token"
        content: "{{ token }}"
        mode: "0600"
    - name: hand out
      ansible.builtin.set_stats:
        data:
          configured: "{{ ansible_play_hosts_all }}"
        per_host: false
      run_once: true
"""

INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    web1: {}
"""

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: network
  namespace: shop
data:
  cidr: "${cidr}"
---
apiVersion: v1
kind: Secret
metadata:
  name: network-token
  namespace: shop
type: Opaque
stringData:
  token: "${token}"
"""


async def settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(600):  # generous: three engines on a shared, busy machine
        await ctl.wait_idle()


def runs_of(ctl: facade.Controller, stack: str, kind: str) -> int:
    return ctl.store.count_runs(stack=stack, kind=kind)


def files_holding(root: Path, needle: bytes, *, skip: tuple[Path, ...]) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        inside = any(path.is_relative_to(s) for s in skip)
        if path.is_file() and not path.is_symlink() and not inside and needle in path.read_bytes():
            found.append(path)
    return found


async def test_a_changed_output_converges_its_readers_in_order_and_the_secret_stays_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "three engines",
        {
            "truenorth.yaml": SPEC.format(cidr="10.1.0.0/16", base_dir=hosts),
            "network/main.tf": NETWORK,
            "reader/main.tf": READER,
            "hosts/site.yml": PLAYBOOK,
            "hosts/inventory.yml": INVENTORY,
            "k8s/all.yaml": MANIFESTS,
        },
    )
    data = tmp_path / "data"
    with KubeAPIServer() as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        settings = config.ControllerConfig(
            repositories=(
                config.RepositoryConfig(
                    name="infra", url=repo.url, sandbox=sandbox.Policy(writable=(hosts,))
                ),
            ),
            data_dir=data,
            clusters={"demo": config.ClusterConfig(name="demo", kubeconfig=str(kubeconfig))},
        )
        ctl = facade.Controller(settings, clock=clocks.FakeClock())
        try:
            await ctl.start()
            await settle(ctl)
            for name in ("network", "reader", "hosts", "config"):
                view = ctl.stack(name)
                assert view.sync_state == "synced", (name, view.error)

            # Every engine got its inputs; the sensitive one only where it belongs.
            assert (hosts / "web1.conf").read_text() == "cidr = 10.1.0.0/16\n"
            assert (hosts / "web1.token").read_text() == CANARY
            assert api.object("v1", "ConfigMap", "network", "shop")["data"] == {"cidr": "10.1.0.0/16"}
            secret = api.object("v1", "Secret", "network-token", "shop")
            assert base64.b64decode(secret["data"]["token"]).decode() == CANARY

            # Outputs are recorded and shown, the sensitive one masked.
            network_outputs = {o["name"]: o for o in _outputs(ctl, "network")}
            assert network_outputs["cidr"]["value"] == "10.1.0.0/16"
            assert network_outputs["token"]["sensitive"] is True
            assert CANARY not in json.dumps(network_outputs)
            assert {o["name"] for o in _outputs(ctl, "hosts")} == {"configured"}

            reader_plans = runs_of(ctl, "reader", "plan")
            before = {name: runs_of(ctl, name, "apply") for name in ("network", "hosts", "config")}

            # One Terraform output changes in Git.
            changed = repo.commit(
                "move the network", {"truenorth.yaml": SPEC.format(cidr="10.2.0.0/16", base_dir=hosts)}
            )
            assert ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main") == ["infra"]
            await settle(ctl)

            for name in ("network", "hosts", "config"):
                assert runs_of(ctl, name, "apply") == before[name] + 1, name
                assert ctl.stack(name).sync_state == "synced", (name, ctl.stack(name).error)
            assert ctl.stack("network").applied_revision == changed
            assert (hosts / "web1.conf").read_text() == "cidr = 10.2.0.0/16\n"
            assert api.object("v1", "ConfigMap", "network", "shop")["data"] == {"cidr": "10.2.0.0/16"}
            # reader reads network.name, which did not change: not planned again.
            assert runs_of(ctl, "reader", "plan") == reader_plans

            # In dependency order: network's apply finished before its readers were planned.
            network_apply = ctl.store.list_runs(stack="network", kind="apply", limit=1)[0]
            for name in ("hosts", "config"):
                # hosts (auto_apply Ansible) converges in one run, no plan first (issue 16).
                kind = "apply" if name == "hosts" else "plan"
                plan = ctl.store.list_runs(stack=name, kind=kind, limit=1)[0]
                assert network_apply.finished_at is not None
                assert plan.started_at >= network_apply.finished_at, name
                # The plan names where each input came from.
                shown = json.dumps(plan.summary) + json.dumps(plan.changes) + plan.output
                assert "network.cidr" in shown, name
        finally:
            await ctl.stop()

    # The canary is nowhere truenorth writes: not in the database (any row, the run logs),
    # not in run artifacts or any other file of the data dir, not in a log line. Only
    # Terraform's own state of the network stack (its tfstate and saved plan) holds it.
    network_state = [p for p in (data / "state").rglob("network") if p.is_dir()]
    assert network_state, "the network stack's state folder"
    leaks = files_holding(data, CANARY.encode(), skip=tuple(network_state))
    assert leaks == [], leaks
    assert CANARY not in caplog.text
    assert CANARY.encode() not in b"".join(p.read_bytes() for p in data.glob("truenorth.db*"))


def _outputs(ctl: facade.Controller, stack: str) -> list[dict[str, object]]:
    """The stack's outputs as the API shows them."""
    return [
        {"name": item.name, "value": item.value, "sensitive": item.sensitive}
        for item in ctl.stack_outputs(stack).items
    ]
