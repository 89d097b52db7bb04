"""``truenorth plan REPO --ref feature --base main --format markdown``: a merge request's preview.

A real repository with three stacks: ``network`` (Terraform, with a sensitive variable),
``hosts`` (Ansible on the local host, reading ``network.cidr`` through ``inputs:``) and
``dns`` (Terraform, untouched). ``main`` is applied first, so the preview plans against
real state. The branch changes the network's CIDR and the hosts' playbook: exactly those
two are planned, ``hosts`` after ``network`` applies, with the CIDR the Terraform plan
already knows (the cross-engine preview), ``dns`` is listed as not planned, the secret
appears nowhere, and the exit code is 2. The Markdown is pinned by a snapshot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support import snapshots
from tests.support.gitrepos import GitRepo

pytestmark = [pytest.mark.slow]

CANARY = "tn-preview-canary-5e0c7d"
SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: network
  - name: hosts
    engine: ansible
    path: hosts
    inventory: inventory.yml
    extra_vars:
      base_dir: {base_dir}
    inputs:
      cidr: network.cidr
  - name: dns
    engine: terraform
    path: dns
"""
NETWORK = """\
variable "password" {{
  type      = string
  default   = "{canary}"
  sensitive = true
}}
resource "terraform_data" "vpc" {{
  input = {{ cidr = "{cidr}", password = var.password }}
}}
output "cidr" {{
  value = "{cidr}"
}}
"""
DNS = """\
resource "terraform_data" "zone" {
  input = "example.internal"
}
"""
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: network settings
      ansible.builtin.copy:
        dest: "{{{{ base_dir }}}}/{{{{ inventory_hostname }}}}.conf"
        content: "cidr = {{{{ cidr }}}}\\n{extra}"
        mode: "0644"
"""
INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    web1: {}
"""


def test_a_branch_previews_exactly_the_stacks_it_changes(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    monkeypatch.setenv("TRUENORTH_SANDBOX_WRITABLE", str(hosts))
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "three stacks",
        {
            "truenorth.yaml": SPEC.format(base_dir=hosts),
            "network/main.tf": NETWORK.format(canary=CANARY, cidr="10.0.0.0/16"),
            "hosts/site.yml": PLAYBOOK.format(extra=""),
            "hosts/inventory.yml": INVENTORY,
            "dns/main.tf": DNS,
        },
    )
    applied = invoke("apply", repo.url, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert (hosts / "web1.conf").read_text() == "cidr = 10.0.0.0/16\n"
    base = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    head = repo.commit(
        "widen the network, say who manages the hosts",
        {
            "network/main.tf": NETWORK.format(canary=CANARY, cidr="10.1.0.0/16"),
            "hosts/site.yml": PLAYBOOK.format(extra="managed = truenorth\\n"),
        },
    )
    repo.git("checkout", "-q", "main")
    other = repo.commit("meanwhile on main: dns", {"dns/main.tf": DNS.replace("example", "corp")})

    shown = invoke("plan", repo.url, "--ref", "feature", "--base", "main", "--format", "markdown")
    assert shown.exit_code == 2, shown.stdout + shown.stderr
    text = shown.stdout
    assert CANARY not in text + shown.stderr
    assert "| network | terraform | 0 to add, 1 to change, 0 to destroy" in text
    assert "| hosts | ansible | 1 host(s) changed, 0 unknown |" in text
    assert "planned after network applies" in text
    # The Ansible plan used the CIDR Terraform's plan knows: the cross-engine preview.
    assert "+cidr = 10.1.0.0/16" in text and "+managed = truenorth" in text
    assert "- dns: unchanged" in text.replace("\\", "")  # changed only on main, after the branch left
    assert '"password": "(sensitive value)"} -> {"cidr": "10.1.0.0/16"' in text
    normalized = (
        text.replace(head[:12], "<head>")
        .replace(other[:12], "<base>")
        .replace(str(tmp_path), "<tmp>")
        .replace(repo.url, "<repo>")
    )
    normalized = re.sub(r"(?m)^### truenorth plan: .*$", "### truenorth plan: <repo>", normalized)
    snapshots.check("merge-request-preview", normalized)

    # The preview changed no stack's state: main's stacks are still synced at the base.
    status = invoke("status", "-o", "json")
    assert status.exit_code == 0, status.stdout + status.stderr
    states = {item["name"]: item for item in json.loads(status.stdout)["stacks"]}
    assert {name: item["sync_state"] for name, item in states.items()} == dict.fromkeys(
        ("network", "hosts", "dns"), "synced"
    )
    assert states["network"]["applied_revision"] == base

    as_json = invoke("plan", repo.url, "--ref", "feature", "--base", "main", "-o", "json")
    assert as_json.exit_code == 2
    document = json.loads(as_json.stdout)
    assert [item["name"] for item in document["stacks"]] == ["network", "hosts"]
    assert document["not_planned"] == [
        {"stack": "dns", "reason": "unchanged: nothing it reads changed in this merge request"}
    ]
    assert CANARY not in as_json.stdout
