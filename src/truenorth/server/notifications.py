"""``GET /api/v1/notifications/deliveries``: what was sent to whom, and whether it arrived.

The controller's notifier (:mod:`truenorth.notify.delivering`) keeps the last deliveries
in memory: each names its target by the subscription's name and the URL's scheme only
(``ops-chat: slack://``), never the URL, which often holds a token. Operators read them
here to see that a chat or a webhook gets truenorth's messages, and why not when it does
not (the last error, the attempts). Newest first; a restart forgets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter
from pydantic import BaseModel, Field

from truenorth.server import auth

__all__ = ["DeliveryList", "NotificationPort", "router"]


@runtime_checkable
class NotificationPort(Protocol):
    """The controller as this endpoint uses it."""

    def notification_deliveries(self) -> Sequence[dict[str, Any]]:
        """The recent deliveries, newest first, as :meth:`DeliveryRecord.to_dict` gives them."""
        ...


class Delivery(BaseModel):
    """One notice sent (or being sent) to one target."""

    id: int
    target: str = Field(description="The subscription's name and the URL's scheme (never the URL).")
    event: str
    repository: str
    stack: str | None = None
    revision: str | None = None
    status: str = Field(description="pending, delivered, failed or dropped.")
    attempts: int
    queued_at: str
    finished_at: str | None = None
    error: str | None = None


class DeliveryList(BaseModel):
    """The recent deliveries, newest first (kept in memory: the last 200)."""

    items: list[Delivery]


def router(controller: NotificationPort) -> APIRouter:
    """The route, bound to ``controller``."""
    api = APIRouter()

    @api.get("/notifications/deliveries", response_model=DeliveryList, tags=["read"])
    def deliveries(_caller: auth.Operator) -> DeliveryList:
        """The recent notification deliveries, newest first (operator)."""
        return DeliveryList(items=[Delivery(**item) for item in controller.notification_deliveries()])

    return api
