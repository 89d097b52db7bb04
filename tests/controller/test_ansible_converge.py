"""Converging an ``auto_apply`` Ansible stack runs ansible-playbook once (issue 16).

Nobody looks at a plan before an ``auto_apply`` stack is applied, so the controller does
not run check mode first: one real run, whose changes (with their diffs) are recorded for
the apply run. A stack that needs approval still gets its check-mode plan first. The
engine here is the real Ansible engine, counting each ansible-playbook it starts.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.runs import registry
from truenorth.engines import protocol, sandbox
from truenorth.engines.ansible import engine as ansible_engine
from truenorth.engines.ansible import inputs, running

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
"""


class CountingAnsible(ansible_engine.AnsibleEngine):
    """The real Ansible engine, counting the ansible-playbook runs it starts (check mode or not)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[bool] = []
        self._lock = threading.Lock()

    def _run(
        self, ctx: protocol.StackContext, ready: inputs.AnsibleInputs, *, check: bool, label: str
    ) -> running.Outcome:
        with self._lock:
            self.runs.append(check)
        return super()._run(ctx, ready, check=check, label=label)


def _controller(tmp_path: Path, *, auto_apply: bool) -> tuple[facade.Controller, CountingAnsible, Path]:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "hosts",
        {
            "truenorth.yaml": "stacks:\n  - name: fleet\n    engine: ansible\n    path: ansible\n"
            f"    inventory: inventory.yml\n    auto_apply: {'true' if auto_apply else 'false'}\n"
            f"    extra_vars: {{base_dir: {hosts}}}\n",
            "ansible/site.yml": PLAYBOOK,
            "ansible/inventory.yml": INVENTORY,
        },
    )
    counting = CountingAnsible()
    settings = config.ControllerConfig(
        repositories=(
            config.RepositoryConfig(name="hosts", url=repo.url, sandbox=sandbox.Policy(writable=(hosts,))),
        ),
        data_dir=tmp_path / "data",
    )
    ctl = facade.Controller(settings, engines=registry.EngineRegistry({"ansible": counting}))
    return ctl, counting, hosts


async def _settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(120):
        await ctl.wait_idle()


async def test_an_auto_apply_converge_runs_the_playbook_once(tmp_path: Path) -> None:
    ctl, counting, hosts = _controller(tmp_path, auto_apply=True)
    try:
        await ctl.start()
        await _settle(ctl)
        assert ctl.stack("fleet").sync_state == "synced", ctl.stack("fleet").error
        assert (hosts / "web1.conf").read_text() == "managed by truenorth\n"
        assert counting.runs == [False], "one real run, no check mode first"
        assert ctl.store.count_runs(stack="fleet", kind="plan") == 0
        (applied,) = ctl.store.list_runs(stack="fleet", kind="apply", limit=5)
        assert applied.status == "succeeded" and applied.plan_id is None
        # History still shows what the run changed, with its diff, as a plan would.
        by_task = {c["task"]: c for c in applied.changes}
        assert by_task["managed file"]["action"] == "create"
        assert "+managed by truenorth" in by_task["managed file"]["diff"]
        assert by_task["a command check mode cannot predict"]["action"] == "no-op"
        assert applied.summary["add"] == 1 and applied.summary["meta"]["kind"] == "converge"
    finally:
        await ctl.stop()


async def test_a_stack_that_needs_approval_is_still_planned_in_check_mode_first(tmp_path: Path) -> None:
    ctl, counting, hosts = _controller(tmp_path, auto_apply=False)
    try:
        await ctl.start()
        await _settle(ctl)
        assert counting.runs == [True], "a check-mode plan, nothing applied"
        assert ctl.stack("fleet").sync_state == "pending-approval"
        assert not (hosts / "web1.conf").exists()
        assert ctl.store.count_runs(stack="fleet", kind="apply") == 0
    finally:
        await ctl.stop()
