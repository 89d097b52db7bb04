"""Sending one notice to one target: through Apprise, or as a signed JSON webhook.

The only module of :mod:`truenorth.notify` that talks to the network. Apprise (189
services: chat, mail, push, incident tools) is a synchronous library, so
:func:`send_apprise` runs it in a worker thread (one delivery at a time through it, so
that one delivery's log lines never end up in another's error) and never on the
controller's event loop. The generic webhook is a plain ``POST`` of
:meth:`~truenorth.notify.events.Notice.to_dict` as JSON over :mod:`httpx`, signed as
:mod:`truenorth.notify.signatures` says, with redirects not followed and the answer's
body never read (a receiver cannot make truenorth read gigabytes).

Both raise :class:`DeliveryError` for any failure, with a message that names the
target by its scheme only and has been through the redactor: Apprise URLs hold tokens.
Retrying is the caller's business (:mod:`truenorth.notify.delivering`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable

import httpx

from truenorth import texts
from truenorth.notify import events, signatures, subscriptions

__all__ = ["TIMEOUT", "Client", "DeliveryError", "client", "send_apprise", "send_webhook", "webhook_body"]

#: Seconds one delivery may take, connecting and answering.
TIMEOUT = 10.0
_MAX_ERROR = 500
_APPRISE_LOCK = threading.Lock()


#: The HTTP client webhooks are sent with (one per notifier).
Client = httpx.AsyncClient


def client() -> Client:
    """A client for webhooks: redirects not followed (a receiver cannot send the body elsewhere)."""
    return httpx.AsyncClient(follow_redirects=False)


class DeliveryError(Exception):
    """The target did not take the notice; the message is safe to record and show."""


async def send_apprise(url: str, notice: events.Notice, *, redact: Callable[[str], str]) -> None:
    """Send ``notice`` to one Apprise URL, in a worker thread."""
    await asyncio.to_thread(_send_apprise, url, notice, redact)


def _send_apprise(url: str, notice: events.Notice, redact: Callable[[str], str]) -> None:
    import apprise  # slow to import (its plugins): only when a notice is sent

    scheme = subscriptions.scheme_of(url)
    with _APPRISE_LOCK:
        # Apprise's own timeout per service; no plugins from the file system.
        sender = apprise.Apprise(asset=apprise.AppriseAsset(service_timeout=TIMEOUT))
        if not sender.add(url):
            raise DeliveryError(f"{scheme}: not a URL Apprise knows (check the scheme and its fields)")
        result = sender.notify(
            body=notice.body(),
            title=notice.title(),
            notify_type=apprise.NotifyType(notice.event.severity.value),
            body_format=apprise.NotifyFormat.TEXT,
        )
    if not result:
        said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
        reason = "; ".join(said[-3:]) or "the service refused it"
        raise DeliveryError(texts.bound(redact(f"{scheme}: {reason}"), _MAX_ERROR))


def webhook_body(notice: events.Notice) -> bytes:
    """The webhook's body: the notice's JSON, UTF-8, keys sorted."""
    return json.dumps(notice.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")


async def send_webhook(
    client: httpx.AsyncClient,
    url: str,
    notice: events.Notice,
    *,
    secret: str,
    delivery: str,
    redact: Callable[[str], str],
    now: Callable[[], float] = time.time,
) -> None:
    """``POST`` ``notice`` to ``url``, signed with ``secret``; any answer but 2xx is a failure."""
    body = webhook_body(notice)
    stamp = int(now())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "truenorth",
        "X-Truenorth-Event": notice.event.value,
        "X-Truenorth-Delivery": delivery,
        signatures.TIMESTAMP_HEADER: str(stamp),
        signatures.SIGNATURE_HEADER: signatures.sign(secret, stamp, body),
    }
    where = f"webhook {subscriptions.scheme_of(url)}"
    try:
        async with client.stream("POST", url, content=body, headers=headers, timeout=TIMEOUT) as answer:
            status = answer.status_code
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        raise DeliveryError(texts.bound(redact(f"{where}: {reason}: {exc}"), _MAX_ERROR)) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{where}: the receiver answered HTTP {status}")
