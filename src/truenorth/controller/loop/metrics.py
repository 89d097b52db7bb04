"""The controller's Prometheus metrics, all ``truenorth_*``, on one registry per controller.

One registry per :class:`~truenorth.controller.actions.facade.Controller` (not the global
default) so that tests and several controllers in one process never share counters. The
server serves :attr:`Metrics.registry` at ``/metrics`` and counts webhooks with
:func:`webhook_received`. The stacks gauge is computed when scraped, from the same views
the API shows, so it can never disagree with them.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import prometheus_client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics", "webhook_received"]

log = logging.getLogger(__name__)

#: Buckets for operations that take from milliseconds (git ls-remote) to many minutes (apply).
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

#: (sync_state, health) of every stack, read at scrape time.
StackStates = Callable[[], Iterable[tuple[str, str]]]


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
        self._stack_states: StackStates = stack_states or (lambda: ())
        reg.register(_StacksCollector(self._read_stack_states))

    def watch_stacks(self, source: StackStates) -> None:
        """Read ``(sync_state, health)`` pairs from ``source`` at every scrape."""
        self._stack_states = source

    def _read_stack_states(self) -> Iterable[tuple[str, str]]:
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

    def __init__(self, source: Callable[[], Iterable[tuple[str, str]]]) -> None:
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
            counted = Tally(self._source())
        except Exception as exc:  # a failing store must not break the whole scrape
            log.warning("cannot count stacks for /metrics: %s", exc)
            counted = Tally()
        for (sync_state, health), count in sorted(counted.items()):
            family.add_metric([sync_state, health], count)
        yield family
