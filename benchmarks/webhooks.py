"""B4: from a push webhook to the run it starts, over 100 pushes: p50 and p95 (goal p50 <= 50 ms).

A real ``truenorth serve`` tracks one repository whose Terraform stack (``auto_apply``)
each push changes. For every push: commit, send the webhook a forge sends (the generic
provider, over HTTP), wait until the stack is applied at that commit (so every push
finds the controller idle, as a push usually does), then read the run it started from
the API. The latency is the run's ``started_at`` (the controller's clock) minus the time
the webhook was sent (this process's clock: the same machine's): checking the branch,
fetching, reading the revision and deciding what to plan, up to recording the run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.measuring import Measurement, Size, median, percentile
from benchmarks.serving import Controller, GitTree, RepositorySetting, running, started_at

__all__ = ["measure"]

GOAL_MS = 50.0

STACK = """\
resource "terraform_data" "release" {
  input = { release = %d }
}
"""


def measure(size: Size) -> list[Measurement]:
    pushes = size.pick(100, 3)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tn-bench-b4-") as name:
        work = Path(name)
        tree = GitTree(work / "repo")
        spec = "stacks:\n  - {name: app, engine: terraform, path: stacks/app, auto_apply: true}\n"
        sha = tree.commit("app", {"truenorth.yaml": spec, "stacks/app/main.tf": STACK % 0})
        with running(Controller(work / "controller", [RepositorySetting("infra", tree.url)])) as controller:
            controller.wait_synced("app", sha, repository="infra")
            for push in range(1, pushes + 1):
                sha = tree.commit(f"release {push}", {"stacks/app/main.tf": STACK % push})
                sent = controller.push(tree.url)
                controller.wait_synced("app", sha, repository="infra", interval=0.05)
                started = min(
                    started_at(run) for run in controller.runs(stack="app") if run["revision"] == sha
                )
                latencies.append(started - sent)
    return [
        Measurement(
            key="B4",
            title=f"push webhook to run started, {pushes} pushes: p50",
            value=round(median(latencies) * 1000, 1),
            unit="ms",
            goal=GOAL_MS,
            detail={
                "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
                "max_ms": round(max(latencies) * 1000, 1),
                "pushes": pushes,
            },
        )
    ]
