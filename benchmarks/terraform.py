"""B1, the CLI part: ``truenorth apply --yes`` of one Terraform stack against ``terraform init && apply``.

One stack of N ``terraform_data`` resources (50 in a full run), applied from scratch in
every round by both sides: truenorth with a fresh data dir (so it fetches the repository,
makes a snapshot, validates, plans, records and applies, sandboxed as configured by
default), Terraform in a fresh copy of the stack folder. Rounds alternate. The value is
the ratio of the medians (goal 1.5). The controller part of B1 (webhook to applied) is
not measured yet (:mod:`benchmarks.catalog`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.measuring import GIT_IDENTITY, Measurement, Size, alternate, median, run_timed

__all__ = ["STACK", "measure", "terraform_repository"]

GOAL_RATIO = 1.5

STACK = """\
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


def terraform_repository(root: Path, *, resources: int) -> Path:
    """A Git repository with one Terraform stack ``items`` of ``resources`` resources."""
    stack = root / "stacks" / "items"
    stack.mkdir(parents=True)
    (stack / "main.tf").write_text(STACK % resources)
    (root / "truenorth.yaml").write_text(
        "stacks:\n  - {name: items, engine: terraform, path: stacks/items}\n"
    )
    env = {**os.environ, **GIT_IDENTITY}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "items"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root


def measure(size: Size) -> list[Measurement]:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise RuntimeError("terraform is not on PATH (make bench installs the system packages it needs)")
    resources = size.pick(50, 3)
    truenorth = str(Path(sys.executable).parent / "truenorth")
    with tempfile.TemporaryDirectory(prefix="tn-bench-b1-") as name:
        work = Path(name)
        repo = terraform_repository(work / "repo", resources=resources)
        env = {**os.environ, "CHECKPOINT_DISABLE": "1"}

        def with_truenorth(index: int) -> float:
            data = work / f"data-{index}"
            argv = [truenorth, "apply", str(repo), "--yes", "--data-dir", str(data)]
            return run_timed(argv, cwd=work, env=env)

        def with_terraform(index: int) -> float:
            folder = work / f"terraform-{index}"
            shutil.copytree(repo / "stacks" / "items", folder)
            init = run_timed([terraform, "init", "-input=false"], cwd=folder, env=env)
            return init + run_timed(
                [terraform, "apply", "-auto-approve", "-input=false"], cwd=folder, env=env
            )

        times = alternate({"truenorth": with_truenorth, "terraform": with_terraform}, rounds=size.pick(5, 1))
    ours, theirs = median(times["truenorth"]), median(times["terraform"])
    return [
        Measurement(
            key="B1.cli",
            title=f"`truenorth apply --yes`, 1 stack of {resources} `terraform_data` / "
            "`terraform init && terraform apply`",
            value=round(ours / theirs, 2),
            unit="ratio",
            goal=GOAL_RATIO,
            detail={
                "truenorth_s": round(ours, 3),
                "reference_s": round(theirs, 3),
                "rounds": len(times["truenorth"]),
                "resources": resources,
            },
        )
    ]
