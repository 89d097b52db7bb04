"""Start-up: ``truenorth --help`` and ``truenorth validate`` of a small repository (goal 0.3 s each).

Every command pays its start-up before doing anything, so this is the floor of every CLI
number. The interpreter's own start-up (``python -c pass``) is measured alongside as the
floor of that floor.
"""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path

from benchmarks.measuring import Measurement, Size, alternate, median, run_timed

__all__ = ["measure"]

GOAL_S = 0.3

SPEC = """\
stacks:
  - {name: network, engine: terraform, path: network}
  - {name: hosts, engine: ansible, path: hosts, playbook: site.yml, depends_on: [network]}
  - {name: web, engine: kubernetes, path: web, depends_on: [network]}
"""


def small_repository(root: Path) -> Path:
    """A working tree with three stacks, one per engine."""
    for folder, name, text in (
        ("network", "main.tf", 'resource "terraform_data" "vpc" {\n  input = "10.0.0.0/16"\n}\n'),
        ("hosts", "site.yml", "- hosts: all\n  gather_facts: false\n  tasks: []\n"),
        ("web", "web.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n"),
    ):
        (root / folder).mkdir(parents=True)
        (root / folder / name).write_text(text)
    (root / "hosts" / "inventory.yml").write_text("all:\n  hosts:\n    localhost: {}\n")
    (root / "truenorth.yaml").write_text(SPEC)
    return root


def measure(size: Size) -> list[Measurement]:
    truenorth = str(Path(sys.executable).parent / "truenorth")
    cpu: dict[str, list[float]] = {"python": [], "help": [], "validate": []}

    def run(label: str, argv: list[str], cwd: Path) -> float:
        """Wall time (the value) and, for the report, CPU time: steadier on a busy machine."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        took = run_timed(argv, cwd=cwd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[label].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return took

    with tempfile.TemporaryDirectory(prefix="tn-bench-startup-") as work:
        repo = small_repository(Path(work) / "repo")
        times = alternate(
            {
                "python": lambda _: run("python", [sys.executable, "-c", "pass"], repo),
                "help": lambda _: run("help", [truenorth, "--help"], repo),
                "validate": lambda _: run("validate", [truenorth, "validate", str(repo)], repo),
            },
            rounds=size.pick(21, 3),
        )
    floor = round(median(times["python"]), 4)
    return [
        Measurement(
            key=f"startup.{name}",
            title=title,
            value=round(median(times[name]), 4),
            unit="s",
            goal=GOAL_S,
            detail={
                "runs": len(times[name]),
                "min_s": round(min(times[name]), 4),
                "cpu_s": round(median(cpu[name]), 4),
                "python_c_pass_s": floor,
            },
        )
        for name, title in (
            ("help", "`truenorth --help`"),
            ("validate", "`truenorth validate` of 3 stacks"),
        )
    ]
