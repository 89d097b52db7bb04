"""What ``make bench`` measures, in report order, and what it does not measure yet.

A benchmark is a module with ``measure(size) -> list[Measurement]``; adding one is adding
its module and an entry to :data:`BENCHMARKS`, after which it is in the
smoke run, ``results.json`` and the report. Benchmarks still :data:`PLANNED` are listed in
the report as not measured and are never in ``results.json``: no number is better than a
made-up one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import api, converging, idling, kubernetes, sandbox, scaling, startup, terraform, webhooks
from benchmarks.measuring import Measurement, Size

__all__ = ["BENCHMARKS", "PLANNED", "Benchmark", "Planned", "report_order"]


@dataclass(frozen=True)
class Benchmark:
    """A measured benchmark: its id (``B1``, ``startup``) and its module's ``measure``."""

    key: str
    title: str
    measure: Callable[[Size], list[Measurement]]
    #: Run order, cheapest first (the report keeps catalog order): the benchmarks that take
    #: many minutes at full size (they converge hundreds of stacks first) run last, so that
    #: a run cut short still has the others' numbers.
    cost: int = 0


@dataclass(frozen=True)
class Planned:
    """A benchmark of issue 16 not measured yet: what it will measure, and its goal."""

    key: str
    title: str
    goal: str


def _terraform(size: Size) -> list[Measurement]:
    """B1: the CLI (``truenorth apply --yes``), then the controller (push webhook to applied)."""
    return terraform.measure(size) + converging.terraform(size)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("startup", "Start-up", startup.measure),
    Benchmark("B1", "Terraform converge: CLI, controller", _terraform),
    Benchmark("B2", "Ansible converge", converging.ansible),
    Benchmark("B3", "Unchanged commit", idling.unchanged, cost=2),
    Benchmark("B4", "Webhook to run started", webhooks.measure),
    Benchmark("B5", "Idle cost", idling.idle, cost=1),
    Benchmark("B6", "API at scale", api.measure),
    Benchmark("B7", "Kubernetes diff", kubernetes.measure),
    Benchmark("B8", "Sandbox overhead", sandbox.measure),
    Benchmark("B9", "Idle cost of 3 replicas", scaling.idle, cost=3),
    Benchmark("B10", "Webhook through a non-owner replica", scaling.routed),
)

#: Every benchmark of issues 14 and 16 is measured now; a new one waits here until it is.
PLANNED: tuple[Planned, ...] = ()


def report_order(key: str) -> int:
    """Where a measurement (``B5.cpu``) goes in the report: its benchmark's place in the catalog."""
    prefix = key.partition(".")[0]
    for index, benchmark in enumerate(BENCHMARKS):
        if benchmark.key == prefix:
            return index
    return len(BENCHMARKS)
