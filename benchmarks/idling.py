"""B3 (an unchanged commit) and B5 (idle cost): what a running controller costs when nothing changes.

**B3.** One repository of 100 stacks, half Terraform (a ``terraform_data`` each) and half
Ansible (one ``local`` host, a playbook of 3 tasks), converged by a real ``truenorth
serve`` first (not measured). Each round commits a change no stack reads (the
README), sends the push webhook and waits until the controller's reconcile pass over
that revision ended (``truenorth_reconcile_duration_seconds_count`` moved on and
``/repositories`` shows the new revision). truenorth's cost is the controller process's
CPU time (``/proc/<pid>/stat``, its own and its children's: git, and a drift check that
happens to end in the span, which is part of what the controller costs) over that span; the
reference is what a user without a controller runs to learn the same thing: ``terraform
plan`` of every Terraform stack (initialized and applied once beforehand) and
``ansible-playbook`` of every playbook (converged once beforehand), CPU time of those
processes. Rounds alternate; the value is the ratio of median CPU (goal 0.05), the wall
ratio is in the details.

**B5.** 1,000 Terraform stacks (a ``terraform_data`` each, ``auto_apply``) in 10
repositories, converged first, then left alone at the default poll interval (60 s):
the controller's own CPU per poll cycle (every repository checked once), measured over
whole cycles, and its resident memory (VmRSS at the end, VmHWM the peak). Child
processes (git, and drift checks that come due: every stack is checked every
``drift_interval``, 10 minutes by default) are reported apart, with the cost of one
drift check per stack against ``terraform plan`` run directly on the same stack.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measuring import Measurement, Size, median, run_timed
from benchmarks.serving import Controller, Cpu, GitTree, RepositorySetting, running, wait_for

__all__ = ["idle", "terraform_repositories", "unchanged"]

GOAL_RATIO = 0.05
GOAL_CPU_PER_CYCLE = 1.0
GOAL_MB = 150.0
POLL_INTERVAL = 60.0

TERRAFORM = """\
resource "terraform_data" "config" {
  input = { stack = "%(name)s", size = 3 }
}
output "id" {
  value = terraform_data.config.id
}
"""
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: host folder
      ansible.builtin.file: {path: "{{ base_dir }}", state: directory, mode: "0755"}
    - name: configuration
      ansible.builtin.copy: {dest: "{{ base_dir }}/app.conf", content: "stack=%(name)s\\n", mode: "0644"}
    - name: check the service
      ansible.builtin.command: "true"
      changed_when: false
"""
INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    host: {base_dir: "%(base)s"}
"""


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _runs(controller: Controller) -> int:
    """Plans and applies recorded (drift checks come due by themselves: not counted)."""
    return controller.count_runs(kind="plan") + controller.count_runs(kind="apply")


def _terraform_files(name: str) -> dict[str, str]:
    return {f"stacks/{name}/main.tf": TERRAFORM % {"name": name}}


def terraform_repositories(
    work: Path, *, repositories: int, per_repository: int, poll: int, drift_interval: str | None = None
) -> list[RepositorySetting]:
    """B5's repositories (``repo-N`` under ``work``): ``per_repository`` Terraform stacks each
    (``auto_apply``, a ``terraform_data``), polled every ``poll`` seconds; ``drift_interval``
    (a duration) if the stacks should not be checked for drift at the default interval."""
    drift = f", drift_interval: {drift_interval}" if drift_interval else ""
    settings = []
    for r in range(repositories):
        tree = GitTree(work / f"repo-{r}")
        files: dict[str, str] = {}
        lines = ["stacks:"]
        for s in range(per_repository):
            stack = f"stack-{s:03d}"
            files.update(_terraform_files(stack))
            lines.append(
                f"  - {{name: {stack}, engine: terraform, path: stacks/{stack}, auto_apply: true{drift}}}"
            )
        files["truenorth.yaml"] = "\n".join(lines) + "\n"
        tree.commit("stacks", files)
        settings.append(RepositorySetting(f"repo-{r}", tree.url, poll_interval=f"{poll}s"))
    return settings


def unchanged(size: Size) -> list[Measurement]:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise RuntimeError("terraform is not on PATH")
    playbook_bin = str(Path(sys.executable).parent / "ansible-playbook")
    half, rounds = size.pick(50, 1), size.pick(2, 1)
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "ANSIBLE_NOCOLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="tn-bench-b3-") as name:
        work = Path(name)
        hosts = work / "hosts"
        tree = GitTree(work / "repo")
        files = {"README.md": "infrastructure\n"}
        lines = ["stacks:"]
        for index in range(half):
            tf, hs = f"tf-{index:03d}", f"hosts-{index:03d}"
            files.update(_terraform_files(tf))
            files[f"stacks/{hs}/site.yml"] = PLAYBOOK % {"name": hs}
            files[f"stacks/{hs}/inventory.yml"] = INVENTORY % {"base": hosts / "truenorth" / hs}
            lines.append(f"  - {{name: {tf}, engine: terraform, path: stacks/{tf}, auto_apply: true}}")
            lines.append(
                f"  - {{name: {hs}, engine: ansible, path: stacks/{hs}, inventory: inventory.yml, auto_apply: true}}"
            )
        files["truenorth.yaml"] = "\n".join(lines) + "\n"
        tree.commit("stacks", files)
        (hosts / "truenorth").mkdir(parents=True)
        # The user's own copies, converged once: plans and runs that find nothing to do.
        reference = work / "reference"
        shutil.copytree(tree.path / "stacks", reference)
        for index in range(half):
            folder = reference / f"hosts-{index:03d}"
            (folder / "inventory.yml").write_text(INVENTORY % {"base": hosts / "direct" / folder.name})
        for index in range(half):
            folder = reference / f"tf-{index:03d}"
            run_timed([terraform, "init", "-input=false"], cwd=folder, env=env)
            run_timed([terraform, "apply", "-auto-approve", "-input=false"], cwd=folder, env=env)
            run_timed(
                [playbook_bin, "-i", "inventory.yml", "site.yml"],
                cwd=reference / f"hosts-{index:03d}",
                env=env,
            )

        def by_hand() -> tuple[float, float]:
            cpu, started = _cpu_children(), time.perf_counter()
            for index in range(half):
                run_timed(
                    [terraform, "plan", "-input=false", "-detailed-exitcode"],
                    cwd=reference / f"tf-{index:03d}",
                    env=env,
                )  # exit 0: no changes
                run_timed(
                    [playbook_bin, "-i", "inventory.yml", "site.yml"],
                    cwd=reference / f"hosts-{index:03d}",
                    env=env,
                )
            return _cpu_children() - cpu, time.perf_counter() - started

        setting = RepositorySetting("infra", tree.url, writable=(hosts / "truenorth",))
        ours_cpu: list[float] = []
        ours_wall: list[float] = []
        ours_children: list[float] = []
        theirs_cpu: list[float] = []
        theirs_wall: list[float] = []
        with running(Controller(work / "controller", [setting])) as controller:
            controller.wait_all_synced(expected=2 * half)
            runs_before = _runs(controller)
            for index in range(rounds):
                passes = controller.passes()
                before = controller.cpu()
                sha = tree.commit(f"docs {index}", {"README.md": f"infrastructure, take {index}\n"})
                started = time.perf_counter()
                controller.push(tree.url)
                controller.wait_pass("infra", sha=sha, after=passes)
                wall = time.perf_counter() - started
                spent = controller.cpu() - before
                ours_cpu.append(spent.own + spent.children)
                ours_children.append(spent.children)
                ours_wall.append(wall)
                cpu, wall = by_hand()
                theirs_cpu.append(cpu)
                theirs_wall.append(wall)
            if _runs(controller) != runs_before:
                raise RuntimeError("an unchanged commit caused plans or applies")
    ours, theirs = median(ours_cpu), median(theirs_cpu)
    return [
        Measurement(
            key="B3",
            title=f"unchanged commit over {2 * half} stacks (half Terraform, half Ansible): controller CPU / "
            "`terraform plan` of every stack + `ansible-playbook` of every playbook",
            value=round(ours / theirs, 4),
            unit="ratio",
            goal=GOAL_RATIO,
            detail={
                "truenorth_cpu_s": round(ours, 3),
                "of_which_child_processes_cpu_s": round(median(ours_children), 3),
                "reference_cpu_s": round(theirs, 1),
                "truenorth_wall_s": round(median(ours_wall), 3),
                "reference_wall_s": round(median(theirs_wall), 1),
                "wall_ratio": round(median(ours_wall) / median(theirs_wall), 4),
                "rounds": rounds,
            },
        )
    ]


def idle(size: Size) -> list[Measurement]:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise RuntimeError("terraform is not on PATH")
    repositories, per_repository = size.pick(10, 2), size.pick(100, 2)
    poll = size.pick(int(POLL_INTERVAL), 2)
    cycles = size.pick(3, 2)
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    with tempfile.TemporaryDirectory(prefix="tn-bench-b5-") as name:
        work = Path(name)
        settings = terraform_repositories(
            work, repositories=repositories, per_repository=per_repository, poll=poll
        )
        # One stack planned by hand, as a drift check plans it: initialized and applied once.
        direct = work / "direct"
        shutil.copytree(work / "repo-0" / "stacks" / "stack-000", direct)
        run_timed([terraform, "init", "-input=false"], cwd=direct, env=env)
        run_timed([terraform, "apply", "-auto-approve", "-input=false"], cwd=direct, env=env)
        plan_cpu = []
        for _ in range(size.pick(5, 1)):
            before_plan = _cpu_children()
            run_timed([terraform, "plan", "-input=false"], cwd=direct, env=env)
            plan_cpu.append(_cpu_children() - before_plan)
        stacks = repositories * per_repository
        with running(Controller(work / "controller", settings)) as controller:
            converging = time.perf_counter()
            controller.wait_all_synced(expected=stacks)
            converged_in = time.perf_counter() - converging
            # A whole poll cycle after converging (every repository checked once more): only then
            # is nothing left of the converging passes.
            passes = controller.metric("truenorth_reconcile_duration_seconds_count")
            wait_for(
                lambda: (
                    controller.metric("truenorth_reconcile_duration_seconds_count") >= passes + repositories
                ),
                what="a poll cycle after converging",
                interval=1.0,
            )
            drifts_before = controller.count_runs(kind="drift")
            before, started = controller.cpu(), time.perf_counter()
            time.sleep(
                cycles * poll
            )  # the measured span itself: nothing happens but the controller's own timers
            spent: Cpu = controller.cpu() - before
            span = time.perf_counter() - started
            rss, peak = controller.memory_mb()
            drifts = controller.count_runs(kind="drift") - drifts_before
    per_cycle = spent.own * poll / span
    detail: dict[str, object] = {
        "stacks": stacks,
        "repositories": repositories,
        "poll_interval_s": poll,
        "cycles": round(span / poll, 2),
        "children_cpu_s_per_cycle": round(spent.children * poll / span, 3),
        "drift_checks_in_span": drifts,
        "terraform_plan_cpu_s": round(median(plan_cpu), 3),
        "converged_in_s": round(converged_in, 1),
    }
    if drifts:
        detail["drift_check_cpu_s_per_stack"] = round((spent.own + spent.children) / drifts, 3)
    return [
        Measurement(
            key="B5.cpu",
            title=f"idle, {stacks:,} stacks in {repositories} repositories: controller CPU per poll cycle "
            "(its own process; child processes in the details)",
            value=round(per_cycle, 3),
            unit="CPU-s",
            goal=GOAL_CPU_PER_CYCLE,
            detail=detail,
        ),
        Measurement(
            key="B5.memory",
            title=f"idle, {stacks:,} stacks in {repositories} repositories: controller resident memory (VmRSS)",
            value=round(rss, 1),
            unit="MB",
            goal=GOAL_MB,
            detail={"peak_mb": round(peak, 1), "stacks": stacks},
        ),
    ]
