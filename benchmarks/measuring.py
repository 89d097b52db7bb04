"""Timing helpers shared by the benchmarks: medians, percentiles, alternating runs, the machine.

A benchmark returns :class:`Measurement` objects: one number each (lower is better), its
unit and goal, plus the details the report shows (both sides' medians, the sizes). The
numbers are medians of several runs; runs that compare truenorth with a tool alternate
(truenorth, tool, truenorth, ...), so that a busy neighbour slows both alike.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GIT_IDENTITY",
    "Measurement",
    "Size",
    "alternate",
    "commit_of",
    "machine",
    "median",
    "percentile",
    "run_timed",
    "timed",
]

#: Author and committer for the repositories the benchmarks create.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
}


@dataclass(frozen=True)
class Size:
    """How big and how often: the full run, or the smoke run ``make test`` does."""

    smoke: bool
    #: Repetitions of a measured command (medians are taken over them).
    rounds: int

    def pick(self, full: int, smoke: int) -> int:
        """``full`` in a full run, ``smoke`` in a smoke run."""
        return smoke if self.smoke else full


@dataclass(frozen=True)
class Measurement:
    """One reported number: ``value`` (lower is better) in ``unit`` against ``goal``."""

    key: str
    title: str
    value: float
    unit: str
    goal: float
    #: What the report shows besides the value: both sides' medians, the sizes, the runs.
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.value <= self.goal

    def to_result(self) -> dict[str, Any]:
        """The ``results.json`` entry."""
        return {"value": self.value, "unit": self.unit, "goal": self.goal, "met": self.met}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile, nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def timed(work: Callable[[], object]) -> float:
    """Seconds ``work()`` took."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run_timed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> float:
    """Seconds ``argv`` took; a failure (exit code not in ``ok``) stops the benchmark with its output."""
    started = time.perf_counter()
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if done.returncode not in ok:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return took


def alternate(sides: Mapping[str, Callable[[int], float]], *, rounds: int) -> dict[str, list[float]]:
    """Run each side once per round, in turn (round ``i`` gets ``i``); every side's times."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(rounds):
        for name, side in sides.items():
            times[name].append(side(index))
    return times


def commit_of(root: Path) -> tuple[str, bool]:
    """The checked-out commit of ``root`` and whether the working tree has changes."""
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    ).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sha or "unknown", bool(status.strip())


def machine() -> str:
    """One line: CPU model and count, memory, OS, Python, load when the run started."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    load = ", load {:.2f} {:.2f} {:.2f} at start".format(*os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}{load}"
    )


def tool_version(argv: Sequence[str]) -> str:
    """The first line ``argv`` prints, or ``missing``."""
    if shutil.which(argv[0]) is None:
        return "missing"
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "unknown"
