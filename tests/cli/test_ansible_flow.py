"""End to end through the CLI: an Ansible stack on three real hosts (local + two sshd).

Plan shows per-host, per-task diffs and exits 2; apply converges; the next plan exits 0;
a hand edit on one host shows on exactly that host; vault and no_log canaries stay hidden.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo
from tests.support.sshd import SshHosts, ssh_hosts  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.ssh]

VAULT_CANARY = "tn-vault-canary-4d1e8b"
NO_LOG_CANARY = "tn-nolog-canary-91c2aa"
VAULT_PASSWORD = "tn-vault-password-0b7f"

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  vars_files:
    - secrets.yml
  tasks:
    - name: host folder
      ansible.builtin.file:
        path: "{{ base_dir }}"
        state: directory
        mode: "0755"
    - name: app config
      ansible.builtin.copy:
        dest: "{{ base_dir }}/app.conf"
        content: "host={{ inventory_hostname }}\\nlevel=info\\n"
        mode: "0644"
    - name: secret file
      no_log: true
      ansible.builtin.copy:
        dest: "{{ base_dir }}/token"
        content: "{{ api_token }} NO_LOG_CANARY\\n"
        mode: "0600"
""".replace("NO_LOG_CANARY", NO_LOG_CANARY)


def vault_file() -> bytes:
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    return vault.encrypt(f"api_token: {VAULT_CANARY}\n".encode())


def test_three_hosts_plan_apply_converge_and_drift(
    tmp_path: Path,
    invoke: Invoke,
    data_dir: Path,
    ssh_hosts: SshHosts,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUENORTH_SECRET_DEMO_VAULT", VAULT_PASSWORD)
    hosts_root = tmp_path / "hosts"
    # What the operator lets this repository's sandboxed runs use: the SSH client files
    # (read) and the local host's folders (written by applies).
    monkeypatch.setenv("TRUENORTH_SANDBOX_READ_ONLY", f"{ssh_hosts.client_key}:{ssh_hosts.known_hosts}")
    monkeypatch.setenv("TRUENORTH_SANDBOX_WRITABLE", str(hosts_root))
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "hosts",
        {
            "truenorth.yaml": "stacks:\n"
            "  - {name: fleet, engine: ansible, path: ansible, inventory: inventory.yml,"
            " vault_password: demo-vault}\n",
            "ansible/site.yml": PLAYBOOK,
            "ansible/secrets.yml": vault_file(),
            "ansible/inventory.yml": ssh_hosts.inventory(hosts_root, local=("local",)),
        },
    )
    names = sorted(["local", *ssh_hosts.hosts])
    assert len(names) == 3

    planned = invoke("plan", repo.url, "-o", "json")
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    stack = json.loads(planned.stdout)["stacks"][0]
    assert stack["summary"]["hosts_changed"] == 3
    config_changes = {c["host"]: c for c in stack["changes"] if c["task"] == "app config"}
    assert set(config_changes) == set(names)
    # A file that does not exist yet is created, not updated (issue 15).
    assert all(c["action"] == "create" and "+level=info" in c["diff"] for c in config_changes.values())
    text_plan = invoke("plan", repo.url)
    assert text_plan.exit_code == 2
    for name in names:
        assert f"{name}: app config will be created" in text_plan.stdout

    applied = invoke("apply", repo.url, "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    (result,) = json.loads(applied.stdout)["applies"]
    assert result["status"] == "succeeded"
    assert {h["host"]: h["status"] for h in result["hosts"]} == dict.fromkeys(names, "changed")
    assert (hosts_root / names[1] / "app.conf").read_text() == f"host={names[1]}\nlevel=info\n"

    again = invoke("plan", repo.url)
    assert again.exit_code == 0, again.stdout + again.stderr

    edited = names[2]
    (hosts_root / edited / "app.conf").write_text("edited by hand\n")
    drifted = invoke("plan", repo.url, "-o", "json")
    assert drifted.exit_code == 2
    changed_hosts = {
        c["host"] for c in json.loads(drifted.stdout)["stacks"][0]["changes"] if c["action"] == "update"
    }
    assert changed_hosts == {edited}

    shown = planned.stdout + text_plan.stdout + applied.stdout + again.stdout + drifted.stdout
    with sqlite3.connect(data_dir / "truenorth.db") as db:
        rows = "\n".join(
            repr(r) for t in ("runs", "run_logs", "stacks") for r in db.execute(f"select * from {t}")
        )
    stored = [p.read_bytes() for p in (data_dir / "runs").rglob("*") if p.is_file()]
    for canary in (VAULT_CANARY, NO_LOG_CANARY, VAULT_PASSWORD):
        assert canary not in shown
        assert canary not in rows
        assert not any(canary.encode() in blob for blob in stored)
