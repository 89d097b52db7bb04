"""The controller drives the real Ansible engine: converge, then drift found and self-healed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks
from truenorth.engines import sandbox

pytestmark = [pytest.mark.slow]

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: managed file
      ansible.builtin.copy:
        dest: "{{ base_dir }}/{{ inventory_hostname }}.conf"
        content: "managed by truenorth\\n"
        mode: "0644"
    - name: a command check mode cannot predict
      ansible.builtin.command: "true"
      changed_when: false
"""

INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    web1: {}
    web2: {}
"""


async def settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(120):
        await ctl.wait_idle()


async def test_drift_on_one_host_is_found_and_healed(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "hosts",
        {
            "truenorth.yaml": "stacks:\n  - name: fleet\n    engine: ansible\n    path: ansible\n"
            "    inventory: inventory.yml\n    auto_apply: true\n    self_heal: true\n"
            f"    drift_interval: 5m\n    extra_vars: {{base_dir: {hosts}}}\n",
            "ansible/site.yml": PLAYBOOK,
            "ansible/inventory.yml": INVENTORY,
        },
    )
    clock = clocks.FakeClock()
    # The play manages local files: the operator lets this repository's applies write there.
    allowed = sandbox.Policy(writable=(hosts,))
    settings = config.ControllerConfig(
        repositories=(config.RepositoryConfig(name="hosts", url=repo.url, sandbox=allowed),),
        data_dir=tmp_path / "data",
    )
    ctl = facade.Controller(settings, clock=clock)
    try:
        await ctl.start()
        await settle(ctl)
        assert ctl.stack("fleet").sync_state == "synced", ctl.stack("fleet").error
        assert (hosts / "web2.conf").read_text() == "managed by truenorth\n"

        # Only the unpredictable command task: no drift, nothing re-applied.
        applies = ctl.store.count_runs(stack="fleet", kind="apply")
        await clock.advance(301)
        await settle(ctl)
        assert ctl.store.count_runs(stack="fleet", kind="drift") >= 1
        assert ctl.store.count_runs(stack="fleet", kind="apply") == applies
        assert not ctl.stack("fleet").drift

        (hosts / "web2.conf").write_text("edited by hand\n")
        await clock.advance(301)
        await settle(ctl)
        drift_run = ctl.store.list_runs(stack="fleet", kind="drift", limit=1)[0]
        updated = {c["host"] for c in drift_run.changes if c["action"] == "update"}
        assert updated == {"web2"}
        assert (hosts / "web2.conf").read_text() == "managed by truenorth\n"  # self-healed
        heal = ctl.store.list_runs(stack="fleet", kind="apply", limit=1)[0]
        assert heal.status == "succeeded" and "self-heal" in (heal.reason or "")
    finally:
        await ctl.stop()
