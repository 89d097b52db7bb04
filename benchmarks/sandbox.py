"""B8: what the engine sandbox (bubblewrap, issue 10) adds to one engine program (goal 50 ms).

A trivial program (``true``) run through ``engines/processes.run`` as an engine runs it,
confined and not, alternating; the value is the difference of the medians. ``terraform
version`` is measured the same way for the report (a real engine binary: more to map).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.measuring import Measurement, Size, alternate, median, timed
from truenorth.core import redaction
from truenorth.engines import processes, sandbox

__all__ = ["measure"]

GOAL_MS = 50.0


def measure(size: Size) -> list[Measurement]:
    support = sandbox.probe()
    if not support.works:
        raise RuntimeError(f"bubblewrap does not work here: {support.reason}")
    programs = {"true": [shutil.which("true") or "/usr/bin/true"]}
    terraform = shutil.which("terraform")
    if terraform is not None:
        programs["terraform version"] = [terraform, "version"]
    medians: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tn-bench-b8-") as name:
        work = Path(name)
        env = {"PATH": os.environ.get("PATH", os.defpath), "CHECKPOINT_DISABLE": "1", "HOME": str(work)}
        confined = sandbox.Sandbox(writable=(work,))

        def once(argv: list[str], spec: sandbox.Sandbox | None, _round: int) -> float:
            def run() -> None:
                done = processes.run(
                    argv, cwd=work, env=env, timeout=120, redactor=redaction.Redactor(), sandbox=spec
                )
                if not done.ok:
                    raise RuntimeError(f"{argv[0]}: {done.describe_failure()}")

            return timed(run)

        for label, argv in programs.items():
            times = alternate(
                {
                    "plain": functools.partial(once, argv, None),
                    "sandboxed": functools.partial(once, argv, confined),
                },
                rounds=size.pick(31, 3),
            )
            medians[label] = {side: median(values) * 1000 for side, values in times.items()}
    plain, boxed = medians["true"]["plain"], medians["true"]["sandboxed"]
    detail: dict[str, object] = {
        "plain_ms": round(plain, 1),
        "sandboxed_ms": round(boxed, 1),
        "runs": size.pick(31, 3),
        "bwrap": support.version,
    }
    if "terraform version" in medians:
        tf = medians["terraform version"]
        detail["terraform_version_overhead_ms"] = round(tf["sandboxed"] - tf["plain"], 1)
    return [
        Measurement(
            key="B8",
            title="sandbox overhead per engine program (`true` through `engines/processes`)",
            value=max(round(boxed - plain, 1), 0.1),  # a difference of medians: noise can make it <= 0
            unit="ms",
            goal=GOAL_MS,
            detail=detail,
        )
    ]
