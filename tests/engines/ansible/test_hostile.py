"""A hostile Ansible stack against the sandbox and truenorth's own configuration.

Check mode still runs code: tasks with ``check_mode: false``, lookups, a repository's
``ansible.cfg`` (its vault password *script*), executable inventories. The stack's plan
tries to read the controller's database, another stack's state, the controller's
configuration and environment, to write outside its folders and to leave a process
running; every attempt fails or finds nothing and no canary reaches any output. The
repository's ``ansible.cfg`` is ignored (said in the log) unless the operator trusts
it; an executable inventory or an inventory plugin is refused with the reason unless
allowed, and then runs confined.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.engines.ansible.conftest import Lab, local_inventory, stack
from truenorth.engines import protocol, sandbox
from truenorth.engines.ansible import AnsibleEngine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("bwrap"),
]

CANARIES = {
    "db": "tn-ansible-database-canary-1b7e",
    "other": "tn-ansible-other-state-canary-c20d",
    "config": "tn-ansible-config-canary-94fa",
    "env": "tn-ansible-controller-env-canary-6a53",
}


def world(lab: Lab) -> dict[str, Path]:
    paths = {
        "db": lab.root / "data" / "truenorth.db",
        "other": lab.root / "data" / "state" / "other" / "terraform.tfstate",
        "config": lab.root / "truenorth.toml",
        "marks": lab.root / "marks",
    }
    for name in ("db", "other", "config"):
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        paths[name].write_text(f"secret = {CANARIES[name]!r}\n")
    paths["marks"].mkdir()
    return paths


def hostile_playbook(paths: dict[str, Path], *, sleeper: str) -> str:
    pid = os.getpid()
    reads = " ".join(str(paths[name]) for name in ("db", "other", "config"))
    return f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: read the controller's files and environment
      ansible.builtin.shell: "cat {reads} /proc/{pid}/environ /proc/1/environ 2>&1; env; true"
      check_mode: false
      register: reads
    - name: show what was read
      ansible.builtin.debug:
        var: reads.stdout
    - name: read through lookups
      ansible.builtin.debug:
        msg: "{{{{ lookup('ansible.builtin.file', '{paths["db"]}', errors='ignore') }}}}"
    - name: write outside, leave a process behind
      ansible.builtin.shell: "echo pwned > {paths["marks"]}/PWNED_ansible; (setsid sleep {sleeper} > /dev/null 2>&1 &); true"
      check_mode: false
    - name: delegated to the controller
      ansible.builtin.shell: "cat {paths["db"]} 2>&1; echo pwned > {paths["marks"]}/PWNED_delegated; true"
      check_mode: false
      delegate_to: localhost
      register: delegated
    - name: show the delegated read
      ansible.builtin.debug:
        var: delegated.stdout
"""


def sleeping(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        for name, canary in CANARIES.items():
            assert canary not in text, f"the {name} canary leaked"


def test_a_hostile_check_run_reaches_nothing_but_its_own(
    lab: Lab, engine: AnsibleEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUENORTH_SECRET_UNREFERENCED", CANARIES["env"])
    paths = world(lab)
    sleeper = f"3000.{time.monotonic_ns() % 10**6:06d}"
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": hostile_playbook(paths, sleeper=sleeper),
            "stacks/hosts/inventory.yml": local_inventory(lab, "web"),
        }
    )
    spec = stack(inventory="inventory.yml")
    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.meta["sandbox"] == "bubblewrap"
    shown = "\n".join(lab.lines)
    assert "No such file or directory" in shown  # it tried, and found nothing
    assert_no_canary(shown, json.dumps(plan.to_dict(), default=str), plan.output)
    assert list(paths["marks"].iterdir()) == [], "it wrote outside its folders"
    assert sleeping(sleeper) == [], "a process outlived the run"
    for name in ("db", "other", "config"):
        assert paths[name].read_text() == f"secret = {CANARIES[name]!r}\n"


def _cfg_files(lab: Lab) -> dict[str, str | bytes]:
    """A repository whose ansible.cfg names a module path its playbook needs."""
    module = (
        "#!/usr/bin/python\nimport json\n"
        'print(json.dumps({"changed": False, "msg": "module from the ansible.cfg library"}))\n'
    )
    return {
        "stacks/hosts/site.yml": (
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - name: a module only ansible.cfg names\n      cfg_hello:\n      check_mode: false\n"
        ),
        "stacks/hosts/ansible.cfg": "[defaults]\nlibrary = ./cfglib\n",
        "stacks/hosts/cfglib/cfg_hello": module,
        "stacks/hosts/inventory.yml": local_inventory(lab, "web"),
    }


def _executable(lab: Lab, path: str, text: str) -> None:
    lab.repo.write({path: text})
    (lab.repo.path / path).chmod(0o755)


def test_the_repositorys_ansible_cfg_is_ignored_unless_trusted(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = lab.commit(_cfg_files(lab))
    spec = stack(inventory="inventory.yml")
    # Ignored: the module path it names is not searched, and the log says why.
    with pytest.raises(protocol.EngineError, match="cfg_hello"):
        engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert any("the repository's ansible.cfg is ignored" in line for line in lab.lines)
    # Trusted by the operator: it is read, and the module it finds runs (in the sandbox).
    trusted = engine.plan(lab.ctx(spec, checkout, revision=sha, sandbox=lab.policy(trust_ansible_cfg=True)))
    assert trusted.meta["ansible_cfg"] == "trusted" and trusted.meta["sandbox"] == "bubblewrap"
    assert "ok: [web]" in trusted.output and not trusted.meta["failed_hosts"]


def test_an_executable_inventory_is_refused_unless_allowed(lab: Lab, engine: AnsibleEngine) -> None:
    marks = lab.root / "marks"
    marks.mkdir()
    script = (
        "#!/bin/sh\n"
        f"touch {marks}/PWNED_inventory\n"
        'echo \'{"all": {"hosts": ["web"]}, "_meta": {"hostvars": {"web": '
        '{"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}\'\n'
    )
    _executable(lab, "stacks/hosts/inventory.sh", script)
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"
        }
    )
    spec = stack(inventory="inventory.sh")
    with pytest.raises(protocol.EngineError, match=r"inventory 'inventory\.sh' is executable"):
        engine.plan(lab.ctx(spec, checkout, revision=sha))
    allowed = lab.ctx(spec, checkout, revision=sha, sandbox=lab.policy(allow_inventory_scripts=True))
    plan = engine.plan(allowed)
    assert plan.meta["hosts"] == ["web"]
    assert not (marks / "PWNED_inventory").exists(), "the allowed script still ran confined"


def test_an_inventory_plugin_is_refused(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": "- hosts: all\n  tasks: []\n",
            "stacks/hosts/inventory.yml": "plugin: ansible.builtin.constructed\nstrict: false\n",
        }
    )
    with pytest.raises(protocol.EngineError, match="configures an inventory plugin"):
        engine.plan(lab.ctx(stack(inventory="inventory.yml"), checkout, revision=sha))


def test_without_an_inventory_the_implicit_localhost_still_plans(lab: Lab, engine: AnsibleEngine) -> None:
    # Inventories must parse when one is named; none named is Ansible's implicit localhost.
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": (
                "- hosts: localhost\n  gather_facts: false\n  connection: local\n"
                "  tasks:\n    - ansible.builtin.ping:\n"
            )
        }
    )
    plan = engine.plan(lab.ctx(stack(), checkout, revision=sha))
    assert plan.meta["hosts"] == ["localhost"] and plan.meta["sandbox"] == "bubblewrap"


def test_a_run_printing_past_the_output_limit_is_stopped_with_the_reason(
    lab: Lab, engine: AnsibleEngine
) -> None:
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": (
                "- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
                "    - ansible.builtin.debug: {msg: \"{{ 'tn-flood ' * 20000 }}\"}\n"
                '      loop: "{{ range(50) | list }}"\n'
            )
        }
    )
    limits = sandbox.Limits(output_bytes=64 * 1024)
    with pytest.raises(protocol.EngineError, match="stopped at a limit: output: it printed more than 64 KiB"):
        engine.plan(lab.ctx(stack(), checkout, revision=sha, limits=limits))
    assert sum(len(line) for line in lab.lines) < 2 * 64 * 1024, "what is kept stops at the limit"
