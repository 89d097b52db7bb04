"""The notifier: match a notice to its subscriptions, deliver it in the background, retry, record.

The controller calls :meth:`Notifier.notify` (or :meth:`Notifier.drift_checked` after a
drift check) from its event loop and goes on at once: nothing here can block or stop
it. Each matching target gets its own background task that tries up to
``Retry.tries`` times, waiting ``initial`` seconds doubling up to ``maximum`` between
tries (Apprise in a worker thread, the webhook over async HTTP), at most
``concurrency`` deliveries at a time. Every delivery is recorded in memory (the last
``keep`` of them, newest first, :meth:`Notifier.records`) with its target named by
scheme only, its attempts and its last error, for the API to show; a delivery that
still fails after its last try is recorded ``failed`` and logged, and that is all.
When more than ``max_pending`` deliveries are waiting, a new one is recorded
``dropped`` instead of queued, so a dead receiver cannot grow memory without bound.

Every notice passes :meth:`~truenorth.notify.events.Notice.redacted` first, with a
redactor that knows the run's secrets (the caller's) and every subscription's URLs and
secrets: no secret reaches a message, a record or a log line.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from truenorth.core import redaction
from truenorth.notify import drifts, events, sending, subscriptions

__all__ = ["DeliveryRecord", "DeliveryStatus", "Notifier", "Retry"]

_log = logging.getLogger("truenorth.notify")


class DeliveryStatus(enum.StrEnum):
    """Where one delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    #: Not attempted: too many deliveries were waiting.
    DROPPED = "dropped"


@dataclass(frozen=True)
class Retry:
    """Tries per delivery, and the wait between them (``initial`` doubling up to ``maximum``)."""

    tries: int = 5
    initial: float = 2.0
    maximum: float = 120.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.maximum, self.initial * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True)
class DeliveryRecord:
    """One notice to one target: what the API shows (no URL, no secret)."""

    id: int
    target: str
    event: events.Event
    repository: str
    stack: str | None
    revision: str | None
    status: DeliveryStatus
    attempts: int
    queued_at: datetime
    finished_at: datetime | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form (``GET /api/v1/notifications/deliveries``)."""
        return {
            "id": self.id,
            "target": self.target,
            "event": self.event.value,
            "repository": self.repository,
            "stack": self.stack,
            "revision": self.revision,
            "status": self.status.value,
            "attempts": self.attempts,
            "queued_at": self.queued_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
        }


class Notifier:
    """Delivers notices to the configured subscriptions in the background."""

    def __init__(
        self,
        settings: subscriptions.NotificationSettings,
        *,
        redactor: redaction.Redactor | None = None,
        retry: Retry | None = None,
        concurrency: int = 4,
        keep: int = 200,
        max_pending: int = 1000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._redactor = redaction.Redactor(redactor.secrets if redactor else ())
        self._redactor.add(*settings.secret_values())
        self._retry = retry or Retry()
        self._slots = asyncio.Semaphore(concurrency)
        self._records: deque[DeliveryRecord] = deque(maxlen=keep)
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._clock = clock
        self._drifts = drifts.Drifts()
        self._client: sending.Client | None = None

    @property
    def enabled(self) -> bool:
        """Whether any subscription is configured."""
        return bool(self.settings.subscriptions)

    def add_secrets(self, *values: str) -> None:
        """Mask these values too (a run's secrets the caller learnt)."""
        self._redactor.add(*values)

    def notify(self, notice: events.Notice, *, secrets: tuple[str, ...] = ()) -> int:
        """Queue ``notice`` for every matching target; the number queued. Never raises or waits.

        ``secrets`` are values to mask in this notice only (the run's sensitive values).
        Call from the event loop.
        """
        matching = [item for item in self.settings.subscriptions if item.matches(notice)]
        if not matching:
            return 0
        redact = self._redactor
        if secrets:
            redact = redaction.Redactor(self._redactor.secrets)
            redact.add(*secrets)
        if notice.link is None:
            notice = replace(notice, link=self.settings.link(notice.repository, notice.stack))
        clean = notice.redacted(redact)
        queued = 0
        for subscription in matching:
            for target, url in subscription.targets():
                record = self._record(clean, target)
                if len(self._tasks) >= self._max_pending:
                    self._finish(record, DeliveryStatus.DROPPED, error="too many deliveries waiting")
                    continue
                try:
                    task = asyncio.get_running_loop().create_task(
                        self._deliver(subscription, url, clean, record, redact)
                    )
                except RuntimeError:  # no running loop: a caller's mistake, never a crash
                    self._finish(record, DeliveryStatus.FAILED, error="no event loop to deliver from")
                    continue
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                queued += 1
        return queued

    def drift_checked(self, notice: events.Notice, *, drifted: bool) -> events.Event | None:
        """After a drift check: announce ``drift-detected`` once, ``drift-resolved`` once (or nothing).

        ``notice``'s event is replaced by the one the rule (:mod:`~truenorth.notify.drifts`)
        says; the event announced is returned.
        """
        key = (notice.repository, notice.stack or "")
        self._drifts, event = self._drifts.observe(key, drifted=drifted)
        if event is not None:
            self.notify(replace(notice, event=event))
        return event

    def records(self) -> tuple[DeliveryRecord, ...]:
        """The recorded deliveries, newest first."""
        return tuple(reversed(self._records))

    async def drain(self) -> None:
        """Wait until every queued delivery has finished (delivered or failed)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, *, wait: bool = False) -> None:
        """Stop: finish (``wait``) or cancel what is queued, then close the HTTP client."""
        if wait:
            await self.drain()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _deliver(
        self,
        subscription: subscriptions.Subscription,
        url: str,
        notice: events.Notice,
        record: DeliveryRecord,
        redact: redaction.Redactor,
    ) -> None:
        error = ""
        for attempt in range(1, self._retry.tries + 1):
            try:
                async with self._slots:
                    await self._send(subscription, url, notice, record.id, redact)
            except asyncio.CancelledError:
                self._finish(
                    record, DeliveryStatus.FAILED, attempts=attempt, error="cancelled: shutting down"
                )
                raise
            except sending.DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a bug in a sender: recorded, never raised into the controller
                error = redact(f"{type(exc).__name__}: {exc}")[:500]
            else:
                self._finish(record, DeliveryStatus.DELIVERED, attempts=attempt)
                return
            self._update(record, attempts=attempt, error=error)
            if attempt < self._retry.tries:
                await asyncio.sleep(self._retry.delay(attempt))
        self._finish(record, DeliveryStatus.FAILED, attempts=self._retry.tries, error=error)
        _log.warning("notification %s to %s failed after %d tries: %s",
                     notice.event.value, record.target, self._retry.tries, error)  # fmt: skip

    async def _send(
        self,
        subscription: subscriptions.Subscription,
        url: str,
        notice: events.Notice,
        delivery: int,
        redact: redaction.Redactor,
    ) -> None:
        if url == subscription.webhook:
            if self._client is None:
                self._client = sending.client()
            await sending.send_webhook(
                self._client,
                url,
                notice,
                secret=subscription.secret or "",
                delivery=str(delivery),
                redact=redact,
            )
        else:
            await sending.send_apprise(url, notice, redact=redact)

    def _record(self, notice: events.Notice, target: str) -> DeliveryRecord:
        record = DeliveryRecord(
            id=next(self._ids),
            target=target,
            event=notice.event,
            repository=notice.repository,
            stack=notice.stack,
            revision=notice.revision,
            status=DeliveryStatus.PENDING,
            attempts=0,
            queued_at=self._clock(),
        )
        self._records.append(record)
        return record

    def _update(self, record: DeliveryRecord, **changes: Any) -> None:
        """Replace ``record`` (by id) with ``changes`` applied, if it is still kept."""
        for index, item in enumerate(self._records):
            if item.id == record.id:
                self._records[index] = replace(item, **changes)
                return

    def _finish(
        self, record: DeliveryRecord, status: DeliveryStatus, *, attempts: int = 0, error: str | None = None
    ) -> None:
        self._update(record, status=status, attempts=attempts, error=error, finished_at=self._clock())
