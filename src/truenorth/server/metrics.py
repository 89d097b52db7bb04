"""``/metrics`` for Prometheus: the controller's registry in the text format.

The controller owns one ``prometheus_client.CollectorRegistry`` with every
``truenorth_*`` series (``controller.metrics``): reconcile durations, runs, stacks by
state, git fetches and errors, queue depth, and ``truenorth_webhooks_total{provider,
outcome}``, which the server counts through :func:`webhook_counter`. Webhook outcomes:
``triggered``, ``unmatched``, ``duplicate``, ``ignored``, ``ping``, ``unauthorized``,
``not_configured``, ``malformed``, ``too_large``, ``timeout``, ``error``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from truenorth.controller.loop import metrics as controller_metrics

__all__ = ["CONTENT_TYPE", "WebhookCounter", "exposition", "webhook_counter"]

#: The Content-Type of the text exposition format.
CONTENT_TYPE: str = CONTENT_TYPE_LATEST

#: Counts one webhook delivery: ``(provider, outcome)``.
WebhookCounter = Callable[[str, str], None]


def webhook_counter(owner: controller_metrics.Metrics) -> WebhookCounter:
    """A function counting deliveries in ``owner``'s ``truenorth_webhooks_total``."""

    def received(provider: str, outcome: str) -> None:
        controller_metrics.webhook_received(owner, provider, outcome)

    return received


def exposition(registry: CollectorRegistry) -> bytes:
    """Every series of ``registry`` in the Prometheus text format."""
    data: bytes = generate_latest(registry)
    return data
