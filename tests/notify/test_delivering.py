"""Delivering notices for real: Apprise ``json://`` and ``mailto://``, the signed webhook, retries.

Each receiver is a real server on 127.0.0.1 (:mod:`tests.support.receivers`, aiosmtpd for
SMTP). A secret canary is in every notice's text and in the run's redactor: it must never
arrive anywhere.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller as SmtpController

from tests.support import receivers
from truenorth.core import redaction
from truenorth.notify import delivering, events, signatures, subscriptions

pytestmark = pytest.mark.slow

CANARY = "canary-7d3b1a90-in-a-notice"
AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
FAST = delivering.Retry(tries=3, initial=0.01, maximum=0.05)


def notice(event: events.Event = events.Event.SYNC_SUCCEEDED, **changes: Any) -> events.Notice:
    fields: dict[str, Any] = {
        "event": event,
        "repository": "infra",
        "at": AT,
        "stack": "network",
        "revision": "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e",
        "author": "Ada",
        "subject": f"Rotate the password {CANARY}",
        "summary": f"1 to add, 0 to change, 0 to destroy; token={CANARY}",
    }
    fields.update(changes)
    return events.Notice(**fields)


def notifier(*items: subscriptions.Subscription, retry: delivering.Retry = FAST) -> delivering.Notifier:
    settings = subscriptions.NotificationSettings(subscriptions=items, public_url="https://tn.example.com")
    return delivering.Notifier(settings, redactor=redaction.Redactor([CANARY]), retry=retry)


async def test_apprise_json_delivers_every_field_and_no_secret() -> None:
    with receivers.receiver() as receiver:
        sender = notifier(
            subscriptions.Subscription(
                name="hook", urls=(f"json://127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/notify",)
            )
        )
        assert sender.notify(notice()) == 1
        await sender.drain()
        await sender.close()
        (request,) = receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/notify"
    payload = request.json()
    assert payload["title"] == "[truenorth] sync-succeeded: infra/network"
    assert payload["type"] == "success"
    message = payload["message"]
    assert "Revision 4f2c9e1a7b3d: Rotate the password *** (by Ada)" in message
    assert "https://tn.example.com/#/stacks/infra/network" in message
    assert CANARY not in request.body.decode()
    (record,) = sender.records()
    assert record.status is delivering.DeliveryStatus.DELIVERED and record.attempts == 1
    assert record.target == "hook: json://"


async def test_the_webhook_is_signed_with_a_timestamp_and_verifies() -> None:
    with receivers.receiver() as receiver:
        sender = notifier(
            subscriptions.Subscription(name="audit", webhook=f"{receiver.url}/hooks", secret="webhook-s3cret")
        )
        sender.notify(notice(events.Event.SYNC_FAILED))
        await sender.drain()
        await sender.close()
        (request,) = receiver.wait_for(1)
    signatures.verify("webhook-s3cret", request.headers, request.body, now=time.time())
    with pytest.raises(signatures.SignatureError):
        signatures.verify("webhook-s3cret", request.headers, request.body, now=time.time() + 3600)
    body = request.json()
    assert body["event"] == "sync-failed" and body["severity"] == "failure"
    assert body["stack"] == "network" and body["revision"].startswith("4f2c9e1a")
    assert body["author"] == "Ada" and body["link"] == "https://tn.example.com/#/stacks/infra/network"
    assert request.headers["x-truenorth-event"] == "sync-failed"
    assert request.headers["content-type"] == "application/json"
    assert CANARY not in request.body.decode()


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers() -> None:
    answers = iter([500, 503])

    def respond(_request: receivers.Request) -> receivers.Answer:
        return receivers.Answer(status=next(answers, 200))

    with receivers.receiver(respond) as receiver:
        sender = notifier(
            subscriptions.Subscription(name="flaky", webhook=receiver.url + "/", secret="s3cret-key")
        )
        started = time.monotonic()
        sender.notify(notice())
        await sender.drain()
        elapsed = time.monotonic() - started
        await sender.close()
        assert len(receiver.wait_for(3)) == 3
    (record,) = sender.records()
    assert record.status is delivering.DeliveryStatus.DELIVERED and record.attempts == 3
    assert elapsed >= FAST.delay(1) + FAST.delay(2), "it waited between tries"


async def test_a_dead_receiver_is_recorded_failed_and_never_raises() -> None:
    with receivers.receiver(lambda _r: receivers.Answer(status=500)) as receiver:
        sender = notifier(
            subscriptions.Subscription(name="dead", webhook=receiver.url + "/", secret="s3cret-key")
        )
        sender.notify(notice())
        await sender.drain()
        await sender.close()
    (record,) = sender.records()
    assert record.status is delivering.DeliveryStatus.FAILED and record.attempts == FAST.tries
    assert record.error == "webhook http://: the receiver answered HTTP 500"
    assert CANARY not in json.dumps(record.to_dict())


async def test_notify_returns_at_once_while_a_receiver_hangs() -> None:
    release = threading.Event()

    def respond(_request: receivers.Request) -> receivers.Answer:
        release.wait(timeout=30)
        return receivers.Answer()

    with receivers.receiver(respond) as receiver:
        sender = notifier(
            subscriptions.Subscription(name="slow", webhook=receiver.url + "/", secret="s3cret-key")
        )
        started = time.monotonic()
        sender.notify(notice())
        assert time.monotonic() - started < 0.5, "notify never waits for the network"
        await asyncio.to_thread(receiver.wait_for, 1)
        assert sender.records()[0].status is delivering.DeliveryStatus.PENDING
        release.set()
        await sender.drain()
        await sender.close()
    assert sender.records()[0].status is delivering.DeliveryStatus.DELIVERED


async def test_a_lasting_drift_is_announced_once_then_its_resolution_once() -> None:
    with receivers.receiver() as receiver:
        sender = notifier(
            subscriptions.Subscription(name="drift", webhook=receiver.url + "/", secret="s3cret-key")
        )
        for drifted in (True, True, True, False, False):
            sender.drift_checked(notice(events.Event.DRIFT_DETECTED), drifted=drifted)
            await sender.drain()
        await sender.close()
        requests = receiver.wait_for(2)
    assert [r.json()["event"] for r in requests] == ["drift-detected", "drift-resolved"]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        del server, session
        self.messages.append(envelope.content)
        self.arrived.set()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    mailbox = _Mailbox()
    with socket.socket() as probe:  # aiosmtpd's controller needs a port number up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SmtpController(mailbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield port, mailbox
    finally:
        server.stop()


async def test_mailto_sends_a_mail_through_a_real_smtp_server(smtp: tuple[int, _Mailbox]) -> None:
    port, mailbox = smtp
    url = f"mailto://127.0.0.1:{port}?from=truenorth@example.test&to=ops@example.test&mode=insecure"
    sender = notifier(subscriptions.Subscription(name="mail", urls=(url,)))
    sender.notify(notice(events.Event.APPROVAL_REQUIRED))
    await sender.drain()
    await sender.close()
    assert sender.records()[0].status is delivering.DeliveryStatus.DELIVERED, sender.records()[0].error
    assert await asyncio.to_thread(mailbox.arrived.wait, 30)
    mail = mailbox.messages[0].decode()
    assert "[truenorth] approval-required: infra/network" in mail
    assert "ops@example.test" in mail
    assert CANARY not in mail
