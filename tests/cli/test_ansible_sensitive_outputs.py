"""A sensitive Ansible output printed before its ``set_stats`` task stays out of the live log.

The Ansible engine learns that a value is secret only when the ``set_stats`` task that
hands it out runs; a task before it may print the value. The first apply's live lines
could not wait for that (what is kept is masked afterwards), but from then on the run's
redactor starts with the stack's last stored sensitive outputs: the second apply's plan
and apply never show the value, live or kept, through the CLI's local path with the real
``ansible-playbook``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

pytestmark = pytest.mark.slow

SEED = "seed-of-the-ansible-masking-test"
#: What the play computes from SEED: never in Git, only in memory and (sealed) in the store.
CANARY = hashlib.sha256(SEED.encode()).hexdigest()

SPEC = """\
stacks:
  - name: admin
    engine: ansible
    path: play
    inventory: inventory.yml
    outputs:
      admin_password: {sensitive: true}
"""

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  vars:
    password: "{{ 'SEED' | hash('sha256') }}"
  tasks:
    - name: tell too early
      ansible.builtin.debug:
        msg: "the password is {{ password }}"
      changed_when: true
    - name: hand out
      ansible.builtin.set_stats:
        data:
          admin_password: "{{ password }}"
        per_host: false
      run_once: true
""".replace("SEED", SEED)

INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    box: {}
"""


def _live_lines(data_dir: Path, *, after_run: int) -> list[str]:
    with sqlite3.connect(data_dir / "truenorth.db") as db:
        return [str(row) for row in db.execute("select * from run_logs where run_id > ?", (after_run,))]


def _last_run(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "truenorth.db") as db:
        return int(db.execute("select max(id) from runs").fetchone()[0])


def test_a_sensitive_output_printed_early_is_masked_live_from_the_second_apply(
    tmp_path: Path, invoke: Invoke, data_dir: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "an ansible stack with a sensitive output",
        {"truenorth.yaml": SPEC, "play/site.yml": PLAYBOOK, "play/inventory.yml": INVENTORY},
    )
    first = invoke("apply", repo.url, "--yes")
    assert first.exit_code == 0, first.stdout + first.stderr
    shown = invoke("outputs", "admin", "--repo", repo.url, "--data-dir", str(data_dir), "-o", "json")
    assert '"sensitive": true' in shown.stdout and CANARY not in shown.stdout
    before = _last_run(data_dir)

    second = invoke("apply", repo.url, "--yes")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert _last_run(data_dir) == before + 2  # a plan and an apply, both with the debug task
    lines = _live_lines(data_dir, after_run=before)
    assert any("the password is" in line for line in lines)  # the task did print it, masked
    assert not [line for line in lines if CANARY in line]
    assert CANARY not in second.stdout + second.stderr
