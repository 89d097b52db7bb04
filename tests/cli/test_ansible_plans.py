"""An Ansible plan read like ``ansible-playbook --check --diff``, and exit codes CI can gate on (issue 15).

Through the CLI with the real ansible-playbook on a local host: a new file is created,
a removed one destroyed, a changed one updated; loop items are named; a ``command``
task check mode cannot predict is listed as unknown but exits 0 (2 with
``--unknown-is-change``), also on the plan right after an apply; a task that fails part
way keeps the changes found before it, says the plan is partial, names the host and the
reason, and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

pytestmark = [pytest.mark.slow]

SPEC = "stacks:\n  - {name: box, engine: ansible, path: ansible, inventory: inventory.yml}\n"

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: config
      ansible.builtin.copy:
        dest: "{{ base_dir }}/app.conf"
        content: "CONTENT\\n"
        mode: "0644"
    - name: user folders
      ansible.builtin.file:
        path: "{{ base_dir }}/{{ item.name }}"
        state: directory
        mode: "0755"
      loop:
        - {name: alice, shell: /bin/bash}
        - {name: bob, shell: /bin/sh}
    - name: old file
      ansible.builtin.file:
        path: "{{ base_dir }}/old.txt"
        state: absent
    - name: reload
      ansible.builtin.command: "true"
"""

FAILING = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: config
      ansible.builtin.copy:
        dest: "{{ base_dir }}/app.conf"
        content: "v3\\n"
        mode: "0644"
    - name: broken step
      ansible.builtin.fail:
        msg: broken on purpose
    - name: never checked
      ansible.builtin.copy:
        dest: "{{ base_dir }}/later.conf"
        content: "later\\n"
"""


def _inventory(base: Path) -> str:
    return (
        "all:\n  hosts:\n    box1:\n      ansible_connection: local\n"
        '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
        f"      base_dir: {base}\n"
    )


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[GitRepo, Path]:
    base = tmp_path / "box1"
    base.mkdir()
    (base / "old.txt").write_text("left over\n")
    monkeypatch.setenv("TRUENORTH_SANDBOX_WRITABLE", str(base))
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "box",
        {
            "truenorth.yaml": SPEC,
            "ansible/site.yml": PLAYBOOK.replace("CONTENT", "v1"),
            "ansible/inventory.yml": _inventory(base),
        },
    )
    return repo, base


def test_create_update_delete_loop_items_and_unknown_exit_codes(
    invoke: Invoke, box: tuple[GitRepo, Path]
) -> None:
    repo, base = box
    planned = invoke("plan", repo.url)
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    out = planned.stdout
    assert "# box1: config will be created" in out
    assert "# box1: user folders (alice) will be created" in out
    assert "# box1: user folders (bob) will be created" in out
    assert "# box1: old file will be destroyed" in out
    assert "# box1: reload cannot be predicted (check mode)" in out
    assert "1 unknown: check mode cannot predict them" in out
    assert "Plan: 3 to add, 0 to change, 1 to destroy (1 unknown;" in out

    document = json.loads(invoke("plan", repo.url, "-o", "json").stdout)
    actions = {c["name"]: c["action"] for c in document["stacks"][0]["changes"]}
    assert actions == {
        "config": "create",
        "user folders (alice)": "create",
        "user folders (bob)": "create",
        "old file": "delete",
        "reload": "unknown",
    }

    applied = invoke("apply", repo.url, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert (base / "app.conf").read_text() == "v1\n" and not (base / "old.txt").exists()

    # Right after the apply only the command is left: unknown, so the plan reads clean.
    again = invoke("plan", repo.url)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "# box1: reload cannot be predicted (check mode)" in again.stdout
    assert "Plan: 0 to add, 0 to change, 0 to destroy (1 unknown;" in again.stdout
    strict = invoke("plan", repo.url, "--unknown-is-change")
    assert strict.exit_code == 2, strict.stdout + strict.stderr

    repo.commit("v2", {"ansible/site.yml": PLAYBOOK.replace("CONTENT", "v2")})
    changed = invoke("plan", repo.url)
    assert changed.exit_code == 2
    assert "# box1: config will be updated in-place" in changed.stdout
    assert "-v1" in changed.stdout and "+v2" in changed.stdout


def test_a_failing_task_keeps_earlier_changes_and_the_plan_says_it_is_partial(
    invoke: Invoke, box: tuple[GitRepo, Path]
) -> None:
    repo, _base = box
    repo.commit("failing", {"ansible/site.yml": FAILING})
    planned = invoke("plan", repo.url)
    assert planned.exit_code == 1, planned.stdout + planned.stderr
    out = planned.stdout
    assert "# box1: config will be created" in out
    assert "Plan is partial" in out
    assert "! box1: failed at task 'broken step': broken on purpose" in out
    assert "never checked" not in out
    assert "Plan failed: check mode failed on every host" in out

    document = invoke("plan", repo.url, "-o", "json")
    assert document.exit_code == 1
    (stack,) = json.loads(document.stdout)["stacks"]
    assert stack["status"] == "failed"
    assert {c["name"]: c["action"] for c in stack["changes"]}["config"] == "create"
