"""The controller's Prometheus metrics, all ``truenorth_*``, on one registry per controller.

One registry per :class:`~truenorth.controller.actions.facade.Controller` (not the global
default) so that tests and several controllers in one process never share counters. The
server serves :attr:`Metrics.registry` at ``/metrics`` and counts webhooks with
:func:`webhook_received`. The stacks gauge is counted when scraped, by the same reading
of stacks the API pages through (one store query, whatever the number of stacks), so it
can never disagree with the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import prometheus_client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics", "webhook_received"]

log = logging.getLogger(__name__)

#: Buckets for operations that take from milliseconds (git ls-remote) to many minutes (apply).
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

#: How many stacks are in each (sync_state, health), read at scrape time.
StackStates = Callable[[], Mapping[tuple[str, str], int]]


class Metrics:
    """Every metric the controller updates."""

    def __init__(self, *, stack_states: StackStates | None = None) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.reconcile_duration = prometheus_client.Histogram(
            "truenorth_reconcile_duration_seconds",
            "Duration of one reconcile pass of a repository (check, fetch, plan, apply).",
            ["repository"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.runs = prometheus_client.Counter(
            "truenorth_runs_total",
            "Recorded engine runs by engine, kind (plan, apply, drift) and result (run status).",
            ["engine", "kind", "result"],
            registry=reg,
        )
        self.git_fetch_duration = prometheus_client.Histogram(
            "truenorth_git_fetch_duration_seconds",
            "Duration of git fetches into the mirror cache.",
            ["repository"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.git_errors = prometheus_client.Counter(
            "truenorth_git_errors_total",
            "Failed git operations (ls-remote, fetch, checkout) by repository.",
            ["repository"],
            registry=reg,
        )
        self.webhooks = prometheus_client.Counter(
            "truenorth_webhooks_total",
            "Webhook deliveries by provider and outcome.",
            ["provider", "outcome"],
            registry=reg,
        )
        self.queue_depth = prometheus_client.Gauge(
            "truenorth_queue_depth",
            "Operations waiting for a free worker.",
            registry=reg,
        )
        self.store_errors = prometheus_client.Counter(
            "truenorth_store_errors_total",
            "Operations that failed because the store could not be read or written.",
            registry=reg,
        )
        self._stack_states: StackStates = stack_states or (lambda: {})
        reg.register(_StacksCollector(self._read_stack_states))

    def watch_stacks(self, source: StackStates) -> None:
        """Read the number of stacks per ``(sync_state, health)`` from ``source`` at every scrape."""
        self._stack_states = source

    def _read_stack_states(self) -> Mapping[tuple[str, str], int]:
        return self._stack_states()

    def run_recorded(self, *, engine: str, kind: str, result: str) -> None:
        """Count one recorded run."""
        self.runs.labels(engine=engine, kind=kind, result=result).inc()


class _HasMetrics(Protocol):
    metrics: Metrics


def webhook_received(owner: Metrics | _HasMetrics, provider: str, outcome: str) -> None:
    """Count one webhook delivery (``owner`` is a :class:`Metrics` or has ``.metrics``)."""
    found = owner if isinstance(owner, Metrics) else owner.metrics
    found.webhooks.labels(provider=provider, outcome=outcome).inc()


class _StacksCollector(Collector):
    """``truenorth_stacks{sync_state, health}``: how many stacks are in each state."""

    def __init__(self, source: StackStates) -> None:
        self._source = source

    def describe(self) -> Iterator[Any]:
        yield GaugeMetricFamily(
            "truenorth_stacks", "Stacks by sync state and health.", labels=["sync_state", "health"]
        )

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "truenorth_stacks", "Stacks by sync state and health.", labels=["sync_state", "health"]
        )
        try:
            counted = dict(self._source())
        except Exception as exc:  # a failing store must not break the whole scrape
            log.warning("cannot count stacks for /metrics: %s", exc)
            counted = {}
        for (sync_state, health), count in sorted(counted.items()):
            family.add_metric([sync_state, health], count)
        yield family
