"""The engine against real hosts: localhost plus two sshd hosts, one in a network namespace.

Covers the issue's "done when": a plan of three hosts shows per-host, per-task diffs,
apply converges them, the next plan is clean, a hand edit on one host is drift on
exactly that host; and case 25: a host whose link is cut mid-run is reported
unreachable while the others converge (``partial``), and the next run converges it.
"""

from __future__ import annotations

import pytest

from tests.engines.ansible.conftest import Lab, stack
from tests.support.sshd import SshHosts
from truenorth.core import plans, runs
from truenorth.engines.ansible import AnsibleEngine

pytestmark = [pytest.mark.slow, pytest.mark.ssh]


@pytest.fixture(autouse=True)
def _ssh_files_readable(lab: Lab, ssh_hosts: SshHosts) -> None:
    """What an operator lists in ``sandbox_read_only``: the SSH client key and known_hosts."""
    lab.readable.extend([ssh_hosts.client_key, ssh_hosts.known_hosts])


SITE = """\
- name: configure the app hosts
  hosts: all
  gather_facts: false
  tasks:
    - name: base directory
      ansible.builtin.file:
        path: "{{ base_dir }}"
        state: directory
        mode: "0755"
    - name: app config
      ansible.builtin.template:
        src: app.conf.j2
        dest: "{{ base_dir }}/app.conf"
        mode: "0644"
    - name: motd
      ansible.builtin.copy:
        dest: "{{ base_dir }}/motd"
        content: "managed by truenorth on {{ inventory_hostname }}\\n"
        mode: "0644"
"""

TEMPLATE = """\
# managed by truenorth
host = {{ inventory_hostname }}
port = {{ app_port }}
"""


def _files(inventory: str) -> dict[str, str]:
    return {
        "stacks/hosts/site.yml": SITE,
        "stacks/hosts/templates/app.conf.j2": TEMPLATE,
        "stacks/hosts/inventory.yml": inventory,
        "stacks/hosts/group_vars/all.yml": "app_port: 8080\n",
    }


def _by_host(plan: plans.Plan) -> dict[str, dict[str, plans.Change]]:
    out: dict[str, dict[str, plans.Change]] = {}
    for change in plan.changes:
        assert change.host is not None and change.task is not None
        out.setdefault(change.host, {})[change.task] = change
    return out


def test_three_hosts_plan_apply_converge_and_drift(
    lab: Lab, engine: AnsibleEngine, ssh_hosts: SshHosts
) -> None:
    inventory = ssh_hosts.inventory(lab.hosts_dir)
    sha, checkout = lab.commit(_files(inventory))
    spec = stack(inventory="inventory.yml")

    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.has_changes
    assert plan.summary.hosts_changed == 3
    assert plan.summary.unknown == 0 and plan.unreachable_hosts == ()
    hosts = _by_host(plan)
    assert set(hosts) == {"local", "loop", "netns"}
    for name, tasks in hosts.items():
        assert list(tasks) == ["base directory", "app config", "motd"]
        # Nothing exists on the hosts yet: every task creates what it manages.
        assert all(change.action is plans.Action.CREATE for change in tasks.values())
        config = tasks["app config"]
        assert config.address == f"{name}: app config"
        assert f"+host = {name}" in config.diff and "+port = 8080" in config.diff
        assert "tn-ansible-" not in config.diff, "no temporary render path in the diff"
        assert f"+managed by truenorth on {name}" in tasks["motd"].diff
    assert not (lab.hosts_dir / "loop").exists(), "check mode must not touch the hosts"

    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert {item.host: item.status for item in result.hosts} == dict.fromkeys(
        ("local", "loop", "netns"), runs.HostStatus.CHANGED
    )
    assert all(item.changed == 3 and item.failed == 0 for item in result.hosts)
    for name in ("local", "loop", "netns"):
        assert (lab.hosts_dir / name / "app.conf").read_text().splitlines()[1] == f"host = {name}"
    assert "changed: [netns]" in lab.lines, "the apply is streamed live"

    clean = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert not clean.has_changes
    assert {change.action for change in clean.changes} == {plans.Action.NOOP}
    assert len(clean.changes) == 9

    (lab.hosts_dir / "loop" / "app.conf").write_text("# edited by hand\nport = 1\n")
    drift = engine.drift(lab.ctx(spec, checkout, revision=sha))
    assert drift.has_changes
    assert drift.meta["drifted_hosts"] == ["loop"]
    changed = drift.changed
    assert [change.address for change in changed] == ["loop: app config"]
    assert "-port = 1" in changed[0].diff and "+port = 8080" in changed[0].diff
    assert f"before: {lab.hosts_dir / 'loop' / 'app.conf'}" in changed[0].diff


CUT_SITE = """\
- name: a run that a cut link interrupts
  hosts: all
  gather_facts: false
  tasks:
    - name: first file
      ansible.builtin.copy:
        dest: "{{ base_dir }}/first"
        content: "first {{ inventory_hostname }}\\n"
    - name: wait for the go signal
      ansible.builtin.wait_for:
        path: "{{ base_dir }}/go"
        timeout: 60
    - name: last file
      ansible.builtin.copy:
        dest: "{{ base_dir }}/last"
        content: "last {{ inventory_hostname }}\\n"
"""


def test_link_cut_mid_run_is_partial_and_next_run_converges(
    lab: Lab, engine: AnsibleEngine, ssh_hosts: SshHosts
) -> None:
    inventory = ssh_hosts.inventory(lab.hosts_dir)
    sha, checkout = lab.commit({"stacks/hosts/site.yml": CUT_SITE, "stacks/hosts/inventory.yml": inventory})
    spec = stack(inventory="inventory.yml")
    for name in ("local", "loop", "netns"):
        (lab.hosts_dir / name).mkdir(parents=True)
    cuts: list[str] = []

    def watch(line: str) -> None:
        lab.lines.append(line)
        # The namespaced host finished the first task: cut its link, then let the
        # others pass the gate (the cut host never gets its go file).
        if line.startswith("changed: [netns]") and not cuts:
            ssh_hosts.cut("netns")
            cuts.append(line)
            for name in ("local", "loop"):
                (lab.hosts_dir / name / "go").write_text("go\n")

    with ssh_hosts.link_restored_after("netns"):
        plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
        result = engine.apply(lab.ctx(spec, checkout, revision=sha, on_output=watch), plan)
        assert cuts, "the cut never happened"
        statuses = {item.host: item.status for item in result.hosts}
        assert statuses == {
            "local": runs.HostStatus.CHANGED,
            "loop": runs.HostStatus.CHANGED,
            "netns": runs.HostStatus.UNREACHABLE,
        }
        assert result.status is runs.RunStatus.PARTIAL
        assert "netns: unreachable" in result.error
        assert (lab.hosts_dir / "loop" / "last").exists()
        assert not (lab.hosts_dir / "netns" / "last").exists()

    ssh_hosts.restore("netns")

    (lab.hosts_dir / "netns" / "go").write_text("go\n")
    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.unreachable_hosts == ()
    definite = (plans.Action.CREATE, plans.Action.UPDATE, plans.Action.DELETE)
    assert [change.address for change in plan.changes if change.action in definite] == ["netns: last file"]
    assert (
        plan.changes[[c.address for c in plan.changes].index("netns: last file")].action
        is plans.Action.CREATE
    )
    again = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert again.status is runs.RunStatus.SUCCEEDED, again.error
    assert {item.host: item.status for item in again.hosts}["netns"] is runs.HostStatus.CHANGED
    assert (lab.hosts_dir / "netns" / "last").read_text() == "last netns\n"


def test_a_host_unreachable_from_the_start(lab: Lab, engine: AnsibleEngine, ssh_hosts: SshHosts) -> None:
    inventory = ssh_hosts.inventory(lab.hosts_dir, ssh=["loop"], dead=["gone"])
    sha, checkout = lab.commit(_files(inventory))
    spec = stack(inventory="inventory.yml")

    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.unreachable_hosts == ("gone",)
    assert plan.summary.hosts_unreachable == 1 and plan.summary.hosts_changed == 2
    assert not any(change.host == "gone" for change in plan.changes)
    # Named with Ansible's reason, and the plan says it did not see everything (issue 15).
    (reason,) = plan.meta["unreachable"]
    assert reason.startswith("gone: unreachable at task 'base directory': ") and len(reason) > 45
    assert plan.partial

    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.PARTIAL
    statuses = {item.host: item.status for item in result.hosts}
    assert statuses == {
        "local": runs.HostStatus.CHANGED,
        "loop": runs.HostStatus.CHANGED,
        "gone": runs.HostStatus.UNREACHABLE,
    }
    assert "gone: unreachable at task 'base directory'" in result.error
