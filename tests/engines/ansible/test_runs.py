"""Real ansible-playbook runs on local hosts: secrets, playbook errors, failures, cancel.

Every test here runs the real engine (ansible-runner, ansible-core) against hosts with
``ansible_connection=local``, each with its own ``base_dir``. Faults are each a clear
error on that stack alone; canaries in vault files, inline vault values and ``no_log``
tasks must appear in no output, error, plan, live line or artifact.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest

from tests.engines.ansible.conftest import (
    Lab,
    encrypt,
    everything_under,
    inline_vault,
    local_inventory,
    stack,
    tree_digest,
)
from truenorth.core import plans, runs
from truenorth.engines import protocol
from truenorth.engines.ansible import AnsibleEngine, inputs

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
VAULT_CANARY = "VAULT-CANARY-91c2e7"
INLINE_CANARY = "INLINE-CANARY-3b8d0a"
NOLOG_CANARY = "NOLOG-CANARY-7f3a55"
ENV_CANARY = "ENV-CANARY-c0ffee42"

SECRET_SITE = """\
- name: secrets must stay secret
  hosts: all
  gather_facts: false
  vars_files: [vars/secrets.yml]
  tasks:
    - name: base directory
      ansible.builtin.file:
        path: "{{ base_dir }}"
        state: directory
    - name: database config
      ansible.builtin.copy:
        dest: "{{ base_dir }}/db.conf"
        content: "password={{ db_password }}\\n"
    - name: api config
      ansible.builtin.template:
        src: api.conf.j2
        dest: "{{ base_dir }}/api.conf"
    - name: token
      ansible.builtin.copy:
        dest: "{{ base_dir }}/token"
        content: "token=NOLOG_CANARY\\n"
      no_log: true
    - name: show the password
      ansible.builtin.debug:
        msg: "the password is {{ db_password }}"
    - name: controller environment is not visible
      ansible.builtin.copy:
        dest: "{{ base_dir }}/env"
        content: "[{{ lookup('env', 'TN_TEST_CONTROLLER_TOKEN') }}]\\n"
""".replace("NOLOG_CANARY", NOLOG_CANARY)


def test_canaries_never_leave_the_engine(
    lab: Lab, engine: AnsibleEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TN_TEST_CONTROLLER_TOKEN", ENV_CANARY)
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": SECRET_SITE,
            "stacks/hosts/inventory.yml": local_inventory(lab, "web1", "web2"),
            "stacks/hosts/vars/secrets.yml": encrypt(f"db_password: {VAULT_CANARY}\n", PASSWORD),
            "stacks/hosts/group_vars/all.yml": f"api_key: {inline_vault(INLINE_CANARY, PASSWORD)}",
            "stacks/hosts/templates/api.conf.j2": "key = {{ api_key }}\n",
        }
    )
    before = tree_digest(checkout)
    spec = stack(inventory="inventory.yml", vault_password="deploy_vault")
    secrets = {"vault_password": PASSWORD}

    plan_ctx = lab.ctx(spec, checkout, revision=sha, secrets=secrets)
    plan = engine.plan(plan_ctx)
    assert plan.summary.hosts_changed == 2
    by_address = {change.address: change for change in plan.changes}
    assert "+password=***" in by_address["web1: database config"].diff
    assert "+key = ***" in by_address["web1: api config"].diff
    assert by_address["web1: token"].action is plans.Action.UPDATE
    assert (
        by_address["web1: token"].diff == ""
        and by_address["web1: token"].reason == "changes hidden by no_log"
    )
    assert plan.meta["vault_files"] == ["group_vars/all.yml", "vars/secrets.yml"]

    result = engine.apply(lab.ctx(spec, checkout, revision=sha, secrets=secrets), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    # Both runs record whether they ran sandboxed (bubblewrap works on the test machines).
    assert result.plan is not None and result.plan.meta["apply_sandbox"] == plan.meta["sandbox"]
    web1 = lab.hosts_dir / "web1"
    assert (web1 / "db.conf").read_text() == f"password={VAULT_CANARY}\n", "the host gets the real value"
    assert (web1 / "token").read_text() == f"token={NOLOG_CANARY}\n"
    assert (web1 / "env").read_text() == "[]\n", "the playbook cannot read the controller's environment"
    assert any('"msg": "the password is ***"' in line for line in lab.lines)

    shown = "\n".join(
        [
            json.dumps(plan.to_dict()),
            plan.output,
            json.dumps(dict(plan.meta)),
            result.output,
            result.error,
            json.dumps([host.to_dict() for host in result.hosts]),
            *lab.lines,
            everything_under(lab.root / "data"),
        ]
    )
    for canary in (VAULT_CANARY, INLINE_CANARY, NOLOG_CANARY, ENV_CANARY, PASSWORD):
        assert canary not in shown, canary
    private = [Path("/tmp", name) for name in os.listdir("/tmp") if name.startswith("tn-ansible-")]
    for folder in private:
        assert VAULT_CANARY not in everything_under(folder) and PASSWORD not in everything_under(folder)
    assert tree_digest(checkout) == before, "the checkout is never written"
    artifacts = lab.root / "data" / "runs" / "2" / "artifacts" / "apply"
    assert sorted(path.name for path in artifacts.iterdir()) == [
        "command.json",
        "job_events.jsonl",
        "notes.jsonl",
        "rc",
        "status",
        "stdout.txt",
    ]
    assert "changed: [web2]" in (artifacts / "stdout.txt").read_text()


def test_yaml_error_in_the_playbook(lab: Lab, engine: AnsibleEngine) -> None:
    broken = "- hosts: all\n  tasks:\n    - ansible.builtin.debug: msg=hi\n   bad: [\n"
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": broken, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    spec = stack(inventory="inventory.yml")
    with pytest.raises(protocol.EngineError) as caught:
        engine.plan(lab.ctx(spec, checkout, revision=sha))
    message = str(caught.value)
    assert message.startswith(
        "ansible-playbook failed (exit code 4) before any host ran:\n[ERROR]: YAML parsing failed"
    )
    assert "site.yml:4:4" in message


UNDEFINED = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: uses an undefined variable
      ansible.builtin.copy:
        dest: "{{ base_dir }}/x"
        content: "{{ not_defined_anywhere }}"
"""


def test_undefined_variable(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": UNDEFINED,
            "stacks/hosts/inventory.yml": local_inventory(lab, "web1", "web2"),
        }
    )
    spec = stack(inventory="inventory.yml")
    with pytest.raises(protocol.EngineError) as caught:
        engine.plan(lab.ctx(spec, checkout, revision=sha))
    message = str(caught.value)
    assert message.startswith(
        "check mode failed on every host:\nweb1: failed at task 'uses an undefined variable': "
    )
    assert "'not_defined_anywhere' is undefined" in message

    forced = plans.Plan(
        stack="hosts",
        engine="ansible",
        revision=sha,
        changes=(),
        summary=plans.PlanSummary(),
        fingerprint=inputs.fingerprint(lab.ctx(spec, checkout, revision=sha)),
    )
    result = engine.apply(lab.ctx(spec, checkout, revision=sha), forced)
    assert result.status is runs.RunStatus.FAILED
    assert {host.status for host in result.hosts} == {runs.HostStatus.FAILED}
    assert "web1: failed at task 'uses an undefined variable'" in result.error
    assert "'not_defined_anywhere' is undefined" in result.error


ONE_FAILS = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: config
      ansible.builtin.copy:
        dest: "{{ base_dir }}/app.conf"
        content: "app on {{ inventory_hostname }}\\n"
    - name: needs the marker file
      ansible.builtin.command: "cat {{ base_dir }}/marker"
      changed_when: false
    - name: last
      ansible.builtin.copy:
        dest: "{{ base_dir }}/done"
        content: "done\\n"
"""


def test_a_task_failing_on_one_host(lab: Lab, engine: AnsibleEngine) -> None:
    for name in ("web1", "web2"):
        (lab.hosts_dir / name).mkdir(parents=True)
    (lab.hosts_dir / "web1" / "marker").write_text("present\n")
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": ONE_FAILS,
            "stacks/hosts/inventory.yml": local_inventory(lab, "web1", "web2"),
        }
    )
    spec = stack(inventory="inventory.yml")
    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    unknown = [change.address for change in plan.changes if change.action is plans.Action.UNKNOWN]
    assert unknown == ["web1: needs the marker file", "web2: needs the marker file"]
    assert plan.summary.unknown == 2

    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.PARTIAL
    assert {host.host: host.status for host in result.hosts} == {
        "web1": runs.HostStatus.CHANGED,
        "web2": runs.HostStatus.FAILED,
    }
    assert result.error.startswith(
        "web2: failed at task 'needs the marker file': non-zero return code: cat: "
    )
    assert (lab.hosts_dir / "web1" / "done").exists() and not (lab.hosts_dir / "web2" / "done").exists()


HOSTILE_SITE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: "motd for {{ inventory_hostname }}"
      ansible.builtin.copy:
        dest: "{{ base_dir }}/motd"
        content: "{{ motd }}"
"""


def test_metacharacters_are_data_not_commands(lab: Lab, engine: AnsibleEngine) -> None:
    evil_host = "web$(touch PWNED);x"
    inventory = local_inventory(lab, evil_host, "other")
    (lab.hosts_dir / evil_host).mkdir(parents=True)
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": HOSTILE_SITE, "stacks/hosts/inventory.yml": inventory}
    )
    motd = "$HOME `id` ; rm -rf / \n-x --check"
    spec = stack(inventory="inventory.yml", limit="web*", extra_vars={"motd": motd})
    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert [change.address for change in plan.changes] == [f"{evil_host}: motd for {evil_host}"]
    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert (lab.hosts_dir / evil_host / "motd").read_text() == motd
    assert not (lab.hosts_dir / "other").exists(), "the limit kept the other host out"
    assert not any(path.name == "PWNED" for path in lab.root.rglob("PWNED"))


SLOW_SITE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: takes long
      ansible.builtin.command: "sleep {{ naptime }}"
"""


def _processes_running(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_and_timeout_stop_the_run(lab: Lab, how: str) -> None:
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": SLOW_SITE, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    naptime = f"60.{secrets.randbelow(10**6):06d}"
    spec = stack(inventory="inventory.yml", extra_vars={"naptime": naptime})
    # Only the apply is bounded: a busy machine may take seconds to start Ansible for the
    # plan, which must not count against the timeout under test.
    plan = AnsibleEngine().plan(lab.ctx(spec, checkout, revision=sha))
    engine = AnsibleEngine(timeout=3 if how == "timeout" else None)

    def watch(line: str) -> None:
        if how == "cancel" and line.startswith("TASK [takes long]"):
            ctx.cancel.set()

    ctx = lab.ctx(spec, checkout, revision=sha, on_output=watch)
    started = time.monotonic()
    result = engine.apply(ctx, plan)
    assert time.monotonic() - started < 50  # well before the 60 s task would end by itself
    if how == "cancel":
        assert result.status is runs.RunStatus.CANCELLED
        assert result.error == "the run was cancelled"
    else:
        assert result.status is runs.RunStatus.FAILED
        assert result.error.startswith("the run timed out after")
    # Ansible's workers run in their own sessions: the whole tree must be gone too.
    deadline = time.monotonic() + 10
    while _processes_running(naptime) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_running(naptime) == []
