"""B1 (controller) and B2: a pushed commit converged by a running controller, against the tool run directly.

Both start a real ``truenorth serve`` (:mod:`benchmarks.serving`) over a Git repository,
let it converge the first commit (not measured), then, each round, commit a change as a
user pushes it and send the push webhook a forge sends. truenorth's time is from sending
the webhook to the end of the apply run it causes (the run's ``finished_at``, from the
API: the controller's own clock, no polling delay). In the same round the same change is
applied by the tool a user would otherwise run, in its own copy converged to the same
previous commit:

- **B1.controller**: one Terraform stack of N ``terraform_data`` (50 in a full run), each
  round changing every resource's input (N in-place updates); the reference is
  ``terraform apply -auto-approve`` in an initialized copy of the stack folder.
- **B2**: an Ansible stack of 3 hosts (``ansible_connection: local``, each with its own
  folder) and a playbook of 10 tasks, each round a new ``release`` that 4 of them turn
  into changes on every host; the references are ``ansible-playbook`` in a checkout and
  ``ansible-pull`` of the same repository (it clones/updates it, then runs the playbook).

The engines run as the controller runs them by default (sandboxed by bubblewrap when it
works); the references run plain. Values are ratios of medians (goal 1.10).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.measuring import Measurement, Size, median, run_timed
from benchmarks.serving import Controller, GitTree, RepositorySetting, finished_at, running

__all__ = ["ansible", "terraform"]

GOAL_RATIO = 1.10

TERRAFORM_STACK = """\
variable "size" {
  type    = number
  default = %(size)d
}
variable "release" {
  type    = number
  default = %(release)d
}
resource "terraform_data" "item" {
  count = var.size
  input = { index = count.index, name = "item-${count.index}", release = var.release }
}
output "count" {
  value = length(terraform_data.item)
}
"""

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  vars:
    release: %(release)d
  tasks:
    - name: host folder
      ansible.builtin.file: {path: "{{ base_dir }}", state: directory, mode: "0755"}
    - name: conf.d folder
      ansible.builtin.file: {path: "{{ base_dir }}/conf.d", state: directory, mode: "0755"}
    - name: main configuration
      ansible.builtin.copy:
        dest: "{{ base_dir }}/app.conf"
        content: "release={{ release }}\\nhost={{ inventory_hostname }}\\n"
        mode: "0644"
    - name: logging configuration
      ansible.builtin.copy: {dest: "{{ base_dir }}/conf.d/logging.conf", content: "level=info\\n", mode: "0644"}
    - name: release marker
      ansible.builtin.copy: {dest: "{{ base_dir }}/RELEASE", content: "{{ release }}\\n", mode: "0644"}
    - name: open files limit
      ansible.builtin.lineinfile:
        path: "{{ base_dir }}/limits.conf"
        regexp: "^nofile="
        line: "nofile={{ 1024 + release }}"
        create: true
        mode: "0644"
    - name: environment
      ansible.builtin.lineinfile:
        path: "{{ base_dir }}/environment"
        regexp: "^APP_RELEASE="
        line: "APP_RELEASE={{ release }}"
        create: true
        mode: "0644"
    - name: look at the configuration
      ansible.builtin.stat: {path: "{{ base_dir }}/app.conf"}
      register: conf
    - name: remember its checksum
      ansible.builtin.set_fact: {conf_checksum: "{{ conf.stat.checksum | default('') }}"}
    - name: check the service
      ansible.builtin.command: "true"
      changed_when: false
"""

#: The smoke run's play: two of the tasks above (it checks the harness, not Ansible's speed).
SMOKE_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  vars:
    release: %(release)d
  tasks:
    - name: host folder
      ansible.builtin.file: {path: "{{ base_dir }}", state: directory, mode: "0755"}
    - name: release marker
      ansible.builtin.copy: {dest: "{{ base_dir }}/RELEASE", content: "{{ release }}\\n", mode: "0644"}
"""

INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    base_dir: "{{ root }}/{{ inventory_hostname }}"
  hosts:
%(hosts)s
"""


def _apply_run(controller: Controller, *, stack: str, sha: str) -> dict[str, object]:
    """The apply run that converged ``stack`` at ``sha`` (newest first)."""
    for run in controller.runs(stack=stack, kind="apply"):
        if run["revision"] == sha and run["status"] == "succeeded":
            return run
    raise RuntimeError(f"no succeeded apply of {stack} at {sha[:12]}: {controller.runs(stack=stack)[:3]}")


def _ratio(key: str, title: str, ours: list[float], theirs: list[float], **detail: object) -> Measurement:
    return Measurement(
        key=key,
        title=title,
        value=round(median(ours) / median(theirs), 2),
        unit="ratio",
        goal=GOAL_RATIO,
        detail={
            "truenorth_s": round(median(ours), 3),
            "reference_s": round(median(theirs), 3),
            "rounds": len(ours),
            **detail,
        },
    )


def terraform(size: Size) -> list[Measurement]:
    binary = shutil.which("terraform")
    if binary is None:
        raise RuntimeError("terraform is not on PATH")
    resources, rounds = size.pick(50, 3), size.pick(5, 1)
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tn-bench-b1c-") as name:
        work = Path(name)
        tree = GitTree(work / "repo")
        spec = "stacks:\n  - {name: items, engine: terraform, path: stacks/items, auto_apply: true}\n"
        sha = tree.commit(
            "items",
            {
                "truenorth.yaml": spec,
                "stacks/items/main.tf": TERRAFORM_STACK % {"size": resources, "release": 0},
            },
        )
        direct = work / "terraform"
        shutil.copytree(tree.path / "stacks" / "items", direct)
        run_timed([binary, "init", "-input=false"], cwd=direct, env=env)
        run_timed([binary, "apply", "-auto-approve", "-input=false"], cwd=direct, env=env)
        with running(Controller(work / "controller", [RepositorySetting("infra", tree.url)])) as controller:
            controller.wait_synced("items", sha, repository="infra")
            for release in range(1, rounds + 1):
                text = TERRAFORM_STACK % {"size": resources, "release": release}
                sha = tree.commit(f"release {release}", {"stacks/items/main.tf": text})
                sent = controller.push(tree.url)
                controller.wait_synced("items", sha, repository="infra")
                ours.append(finished_at(_apply_run(controller, stack="items", sha=sha)) - sent)
                (direct / "main.tf").write_text(text)
                theirs.append(
                    run_timed([binary, "apply", "-auto-approve", "-input=false"], cwd=direct, env=env)
                )
    return [
        _ratio(
            "B1.controller",
            f"controller: push webhook to applied, 1 stack of {resources} `terraform_data` changed / "
            "`terraform apply` of the same change",
            ours,
            theirs,
            resources=resources,
        )
    ]


def ansible(size: Size) -> list[Measurement]:
    bin_dir = Path(sys.executable).parent
    playbook_bin, pull_bin = str(bin_dir / "ansible-playbook"), str(bin_dir / "ansible-pull")
    rounds, hosts = size.pick(3, 1), [f"web{n}" for n in range(1, size.pick(3, 1) + 1)]
    play, tasks = (SMOKE_PLAYBOOK, 2) if size.smoke else (PLAYBOOK, 10)
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    ours: list[float] = []
    direct_times: list[float] = []
    pull_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tn-bench-b2-") as name:
        work = Path(name)
        roots = {side: work / f"hosts-{side}" for side in ("truenorth", "direct", "pull")}
        for root in roots.values():
            root.mkdir()
        tree = GitTree(work / "repo")
        spec = (
            "stacks:\n  - name: hosts\n    engine: ansible\n    path: stacks/hosts\n"
            "    playbook: site.yml\n    inventory: inventory.yml\n    auto_apply: true\n"
            f"    extra_vars: {{root: {roots['truenorth']}}}\n"
        )
        sha = tree.commit(
            "hosts",
            {
                "truenorth.yaml": spec,
                "stacks/hosts/site.yml": play % {"release": 0},
                "stacks/hosts/inventory.yml": INVENTORY
                % {"hosts": "\n".join(f"    {h}: {{}}" for h in hosts)},
            },
        )
        checkout = work / "checkout"
        shutil.copytree(tree.path / "stacks" / "hosts", checkout)

        def direct() -> float:
            argv = [playbook_bin, "-i", "inventory.yml", "site.yml", "-e", f"root={roots['direct']}"]
            return run_timed(argv, cwd=checkout, env=env)

        def pull() -> float:
            argv = [
                pull_bin, "-U", tree.url, "-C", "main", "-d", str(work / "pulled"),
                "-i", "stacks/hosts/inventory.yml", "--limit", "all",
                "-e", f"root={roots['pull']}", "stacks/hosts/site.yml",
            ]  # fmt: skip
            return run_timed(argv, cwd=work, env=env)

        direct(), pull()  # converge the first commit, as the controller does below
        setting = RepositorySetting("hosts", tree.url, writable=(roots["truenorth"],))
        with running(Controller(work / "controller", [setting])) as controller:
            controller.wait_synced("hosts", sha, repository="hosts")
            for release in range(1, rounds + 1):
                text = play % {"release": release}
                sha = tree.commit(f"release {release}", {"stacks/hosts/site.yml": text})
                sent = controller.push(tree.url)
                controller.wait_synced("hosts", sha, repository="hosts")
                ours.append(finished_at(_apply_run(controller, stack="hosts", sha=sha)) - sent)
                (checkout / "site.yml").write_text(text)
                direct_times.append(direct())
                pull_times.append(pull())
        for root in roots.values():  # every side converged every host to the last release
            for host in hosts:
                if (root / host / "RELEASE").read_text().strip() != str(rounds):
                    raise RuntimeError(f"{root / host} is not at release {rounds}")
    title = f"controller: push webhook to applied, Ansible, {len(hosts)} hosts x {tasks} tasks"
    return [
        _ratio("B2", f"{title} / `ansible-playbook`", ours, direct_times, hosts=len(hosts), tasks=tasks),
        _ratio(
            "B2.pull",
            f"{title} / `ansible-pull` of the repository",
            ours,
            pull_times,
            hosts=len(hosts),
            tasks=tasks,
        ),
    ]
