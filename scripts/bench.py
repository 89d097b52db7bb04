"""`make bench`: truenorth against the tool a user would otherwise run, in the same run.

Each benchmark builds its inputs in a temp dir, runs the plain tool and truenorth on the
same work, and prints wall time and peak memory as ratios (truenorth / tool). Nothing
here is a pass/fail test; the numbers go in issue notes and docs.

- terraform: N stacks planned with `terraform init` + `plan -out` + `show -json` per stack
  (what a pipeline runs) vs. `truenorth plan` of the repository (fetch, snapshot,
  validate, plan every stack, record runs). Then a second `truenorth plan` (warm: mirror
  and provider init cached) vs. the same raw loop again.
- ansible: `ansible-playbook --check --diff` vs. `truenorth plan` of the same playbook
  as one Ansible stack, on N local hosts (best of 3 each).
- sandbox: what bubblewrap adds to one engine program (`true`, `terraform version`) run
  through `engines/processes.run`, confined vs. not (median of N; goal: under 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from truenorth.core import redaction
from truenorth.engines import processes, sandbox

BIN = Path(sys.executable).parent
TF_STACK = """
variable "size" {
  type    = number
  default = %d
}
resource "terraform_data" "item" {
  count = var.size
  input = { index = count.index, name = "item-${count.index}" }
}
output "count" {
  value = length(terraform_data.item)
}
"""


def run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def peak_child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "b@x"}  # fmt: skip
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def bench_terraform(stacks: int, resources: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="tn-bench-"))
    try:
        repo = work / "repo"
        lines = ["stacks:"]
        for index in range(stacks):
            folder = repo / "stacks" / f"s{index}"
            folder.mkdir(parents=True)
            (folder / "main.tf").write_text(TF_STACK % resources)
            lines += [f"  - name: s{index}", "    engine: terraform", f"    path: stacks/s{index}"]
        (repo / "truenorth.yaml").write_text("\n".join(lines) + "\n")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "bench")

        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": str(work / "tfrc"),
               "CHECKPOINT_DISABLE": "1"}  # fmt: skip
        (work / "tfrc").write_text("")

        def raw_loop(copy: Path) -> float:
            total = 0.0
            for index in range(stacks):
                folder = copy / "stacks" / f"s{index}"
                total += run(["terraform", "init", "-input=false", "-no-color"], cwd=folder, env=env)
                total += run(
                    ["terraform", "plan", "-input=false", "-no-color", "-out=p.tfplan"], cwd=folder, env=env
                )
                total += run(["terraform", "show", "-json", "p.tfplan"], cwd=folder, env=env)
            return total

        copy = work / "raw"
        shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git"))
        raw_cold = raw_loop(copy)
        raw_warm = raw_loop(copy)
        data = work / "data"
        cli = [str(BIN / "truenorth"), "plan", str(repo), "--data-dir", str(data), "-o", "json"]
        tn_cold = run(cli, cwd=work)
        tn_warm = run(cli, cwd=work)
        return {
            "stacks": stacks,
            "resources_per_stack": resources,
            "terraform_cold_s": round(raw_cold, 3),
            "truenorth_cold_s": round(tn_cold, 3),
            "ratio_cold": round(tn_cold / raw_cold, 2),
            "terraform_warm_s": round(raw_warm, 3),
            "truenorth_warm_s": round(tn_warm, 3),
            "ratio_warm": round(tn_warm / raw_warm, 2),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: folder
      ansible.builtin.file:
        path: "{{ base_dir }}/{{ inventory_hostname }}"
        state: directory
        mode: "0755"
    - name: files
      ansible.builtin.copy:
        dest: "{{ base_dir }}/{{ inventory_hostname }}/file-{{ item }}.conf"
        content: "host={{ inventory_hostname }} item={{ item }}\\n"
        mode: "0644"
      loop: "{{ range(10) | list }}"
"""


def bench_ansible(hosts: int) -> dict[str, float]:
    """`ansible-playbook --check --diff` vs `truenorth plan` on the same local hosts."""
    work = Path(tempfile.mkdtemp(prefix="tn-bench-ansible-"))
    try:
        repo = work / "repo"
        stack = repo / "ansible"
        stack.mkdir(parents=True)
        (stack / "site.yml").write_text(PLAYBOOK)
        inventory = ["all:", "  vars:", "    ansible_connection: local",
                     "    ansible_python_interpreter: " + sys.executable, "  hosts:"]  # fmt: skip
        inventory += [f"    h{index}: {{}}" for index in range(hosts)]
        (stack / "inventory.yml").write_text("\n".join(inventory) + "\n")
        base = work / "hosts"
        (repo / "truenorth.yaml").write_text(
            "stacks:\n  - {name: hosts, engine: ansible, path: ansible, inventory: inventory.yml,"
            f" extra_vars: {{base_dir: {base}}}}}\n"
        )
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "bench")
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
        raw_argv = [str(BIN / "ansible-playbook"), "-i", "inventory.yml", "--check", "--diff",
                    "-e", f"base_dir={base}", "site.yml"]  # fmt: skip
        raw = [run(raw_argv, cwd=stack, env=env) for _ in range(3)]
        cli = [str(BIN / "truenorth"), "plan", str(repo), "--data-dir", str(work / "data"), "-o", "json"]
        ours = [run(cli, cwd=work) for _ in range(3)]
        raw_best, ours_best = min(raw), min(ours)
        return {
            "hosts": hosts,
            "tasks_per_host": 11,
            "ansible_playbook_check_s": round(raw_best, 3),
            "truenorth_plan_s": round(ours_best, 3),
            "ratio": round(ours_best / raw_best, 2),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_sandbox(runs: int) -> dict[str, object]:
    """Median wall time of one program through ``processes.run``, sandboxed and not."""
    support = sandbox.probe()
    if not support.works:
        return {"skipped": f"bubblewrap does not work here: {support.reason}"}
    work = Path(tempfile.mkdtemp(prefix="tn-bench-sandbox-"))
    programs = {"true": [shutil.which("true") or "/usr/bin/true"]}
    if shutil.which("terraform"):
        programs["terraform_version"] = [str(shutil.which("terraform")), "version"]
    env = {"PATH": os.environ.get("PATH", os.defpath), "CHECKPOINT_DISABLE": "1", "HOME": str(work)}
    confined = sandbox.Sandbox(writable=(work,))
    results: dict[str, object] = {"runs": runs, "bwrap": support.version}
    try:
        for name, argv in programs.items():
            times: dict[str, list[float]] = {"plain": [], "sandboxed": []}
            for _ in range(runs):  # interleaved, so that load on the machine hits both alike
                for label, spec in (("plain", None), ("sandboxed", confined)):
                    started = time.perf_counter()
                    done = processes.run(
                        argv, cwd=work, env=env, timeout=120, redactor=redaction.Redactor(), sandbox=spec
                    )
                    times[label].append(time.perf_counter() - started)
                    if not done.ok:
                        return {"failed": f"{name} ({label}): {done.describe_failure()}"}
            plain = statistics.median(times["plain"]) * 1000
            boxed = statistics.median(times["sandboxed"]) * 1000
            results[name] = {
                "plain_ms": round(plain, 1),
                "sandboxed_ms": round(boxed, 1),
                "overhead_ms": round(boxed - plain, 1),
            }
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stacks", type=int, default=5)
    parser.add_argument("--resources", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--sandbox-runs", type=int, default=21)
    parser.add_argument("--sandbox-only", action="store_true", help="only the sandbox's overhead")
    options = parser.parse_args()
    if options.sandbox_only:
        print(json.dumps({"sandbox": bench_sandbox(options.sandbox_runs)}, indent=2))
        return 0
    results: dict[str, object] = {}
    if shutil.which("terraform"):
        results["terraform"] = bench_terraform(options.stacks, options.resources)
    else:
        results["terraform"] = "skipped: terraform is not on PATH"
    results["ansible"] = bench_ansible(options.hosts)
    results["sandbox"] = bench_sandbox(options.sandbox_runs)
    results["peak_child_rss_mib"] = round(peak_child_rss_mib(), 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
