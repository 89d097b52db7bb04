"""Waking another controller at once: PostgreSQL LISTEN/NOTIFY, and its SQLite stand-in.

A webhook may reach any replica, and an action may be asked of any replica, while only
the repository's owner may act on it. The request is written to the database first
(``store/requesting.py``: nothing is lost if the owner is not listening, it reads the
table again whenever it starts or takes a lease), then :func:`notify` wakes the
listeners at once instead of at their next poll.

A :class:`Listener` holds a connection of its own with ``LISTEN`` on some channels;
:meth:`Listener.wait` is a blocking generator (call it from a thread) that yields each
:class:`Notice` as it arrives, until ``timeout``. When the connection breaks (the
database restarted) it reconnects on the next wait and yields one notice per channel
with ``missed=True``: notifications sent meanwhile are gone, so the owner reads its
requests again. On SQLite (one controller) notices travel inside the process.

An :class:`Announcer` tells every replica that a repository's views changed (a run
started or ended, a stack's state, a publication) on :data:`ACTIVITY_CHANNEL`, so that
their live event streams wake at once: ``changed(key)`` may be called from any thread as
often as writes happen; a thread of its own sends at most one batch every
:data:`ANNOUNCE_INTERVAL` seconds (the first change of a quiet spell at once), each key
once per batch, so a burst of writes costs a few notifications a second, not one each.

Channel names are fixed lower-case identifiers; payloads are bounded below
PostgreSQL's 8000-byte limit.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

__all__ = [
    "ACTIVITY_CHANNEL",
    "ANNOUNCE_INTERVAL",
    "ANNOUNCE_KEYS",
    "MAX_PAYLOAD_BYTES",
    "Announcer",
    "Listener",
    "LocalHub",
    "Notice",
    "channel_name",
    "notify",
    "payload_text",
]

log = logging.getLogger(__name__)

#: PostgreSQL refuses a payload of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7900
_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,62}")
# The longest a wait blocks inside the driver: a closing listener is noticed this fast.
_SLICE_SECONDS = 0.5
#: Every replica listens here: the key of a repository whose views changed (empty: several).
ACTIVITY_CHANNEL = "truenorth_activity"
#: An announcer sends at most one batch of notifications per this many seconds.
ANNOUNCE_INTERVAL = 0.25
#: A batch names at most this many repositories, one notification each; more changed
#: since the last batch are one notification with an empty payload instead.
ANNOUNCE_KEYS = 3
# A key longer than this (never a real one: keys are at most 1024 characters) is sent as "".
_MAX_KEY_CHARS = 1024


@dataclass(frozen=True)
class Notice:
    """One notification: ``payload`` on ``channel``; ``missed`` after a reconnect (read again)."""

    channel: str
    payload: str
    missed: bool = False


def channel_name(value: object) -> str:
    """``value`` if it is a valid channel name (lower-case identifier, at most 63 characters)."""
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
        raise ValueError(f"a channel name is a lower-case identifier of at most 63 characters, got {value!r}")
    return value


def payload_text(value: object) -> str:
    """``value`` if it is a string that fits a notification."""
    if not isinstance(value, str):
        raise ValueError(f"a notification payload must be a string, got {type(value).__name__}")
    if "\x00" in value or len(value.encode("utf-8", "replace")) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a notification payload holds at most {MAX_PAYLOAD_BYTES} bytes and no NUL")
    return value


def notify(connection: sa.Connection, *, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` (PostgreSQL; delivered when the transaction commits)."""
    connection.execute(
        sa.text("SELECT pg_notify(:channel, :payload)"),
        {"channel": channel_name(channel), "payload": payload_text(payload)},
    )


class LocalHub:
    """Notices inside one process: the SQLite store's LISTEN/NOTIFY."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[int, tuple[frozenset[str], queue.SimpleQueue[Notice]]] = {}

    def publish(self, notice: Notice) -> None:
        with self._lock:
            targets = [q for channels, q in self._queues.values() if notice.channel in channels]
        for target in targets:
            target.put(notice)

    def subscribe(self, channels: frozenset[str]) -> tuple[int, queue.SimpleQueue[Notice]]:
        inbox: queue.SimpleQueue[Notice] = queue.SimpleQueue()
        with self._lock:
            token = id(inbox)
            self._queues[token] = (channels, inbox)
        return token, inbox

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._queues.pop(token, None)


class Listener:
    """Notifications on ``channels``; close it when done (or use ``with``).

    ``engine`` (PostgreSQL, pooling nothing) gives the listening connection; without
    one, ``hub`` delivers the notices of this process.
    """

    def __init__(
        self, channels: Sequence[str], *, engine: sa.Engine | None = None, hub: LocalHub | None = None
    ) -> None:
        self.channels = tuple(sorted({channel_name(c) for c in channels}))
        if not self.channels:
            raise ValueError("a listener needs at least one channel")
        self._engine = engine
        self._hub = hub
        self._closed = threading.Event()
        self._state = threading.Lock()
        self._waiting = 0
        self._connection: Any = None  # a pool-proxied psycopg connection
        self._inbox: queue.SimpleQueue[Notice] | None = None
        self._token: int | None = None
        if engine is None:
            if hub is None:
                raise ValueError("a listener needs an engine (PostgreSQL) or a hub (SQLite)")
            self._token, self._inbox = hub.subscribe(frozenset(self.channels))
        else:
            # The first connection fails loudly (a wrong URL); later ones are retried.
            self._connect()

    @property
    def connected(self) -> bool:
        """False while the listening connection is down (PostgreSQL)."""
        return self._engine is None or self._connection is not None

    def wait(self, timeout: float) -> Iterator[Notice]:
        """Yield notices as they arrive, for at most ``timeout`` seconds (at once when closed)."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self._inbox is not None:
            yield from self._wait_local(deadline)
            return
        with self._state:
            self._waiting += 1
        try:
            yield from self._wait_server(deadline)
        finally:
            with self._state:
                self._waiting -= 1
                last = self._waiting == 0
            if last and self._closed.is_set():
                self._drop()

    def _wait_server(self, deadline: float) -> Iterator[Notice]:
        while not self._closed.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._connection is None:
                try:
                    self._connect()
                except Exception:  # still down: try again on the next slice
                    self._closed.wait(min(remaining, 1.0))
                    continue
                for channel in self.channels:
                    yield Notice(channel=channel, payload="", missed=True)
                continue
            try:
                driver = self._connection.driver_connection
                for found in driver.notifies(timeout=min(remaining, _SLICE_SECONDS)):
                    yield Notice(channel=found.channel, payload=found.payload)
            except Exception:  # any driver failure: the connection is gone
                self._drop()

    def close(self) -> None:
        """Stop listening; a wait in another thread returns within half a second (and
        closes the connection itself: a connection is never closed under a waiting thread)."""
        self._closed.set()
        if self._hub is not None and self._token is not None:
            self._hub.unsubscribe(self._token)
        with self._state:
            idle = self._waiting == 0
        if idle:
            self._drop()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_local(self, deadline: float) -> Iterator[Notice]:
        assert self._inbox is not None
        while not self._closed.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                yield self._inbox.get(timeout=min(remaining, _SLICE_SECONDS))
            except queue.Empty:
                continue

    def _connect(self) -> None:
        assert self._engine is not None
        proxied = self._engine.raw_connection()
        try:
            driver = proxied.driver_connection
            assert driver is not None
            driver.autocommit = True
            for channel in self.channels:
                driver.execute(f"LISTEN {channel_name(channel)}")
        except BaseException:
            with contextlib.suppress(Exception):
                proxied.close()
            raise
        self._connection = proxied

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Invalidated, not returned: no reset (a rollback on a dead socket); NullPool
            # keeps nothing anyway.
            with contextlib.suppress(Exception):
                connection.invalidate()


class Announcer:
    """Coalesced notifications of changed repositories, sent from a thread of its own.

    ``send`` gets a batch of payloads (repository keys, or one ``""`` for "several") and
    sends one notification each (``Store.notify`` on :data:`ACTIVITY_CHANNEL`); a failure
    is only logged, since a lost notification only delays a view until the stream's next
    keep-alive. :meth:`changed` never blocks on the database and never raises.
    """

    def __init__(
        self,
        send: Callable[[Sequence[str]], None],
        *,
        interval: float = ANNOUNCE_INTERVAL,
        keys: int = ANNOUNCE_KEYS,
    ) -> None:
        if interval <= 0 or keys < 1:
            raise ValueError(f"an announcer needs interval > 0 and keys >= 1, got {interval} and {keys}")
        self._send = send
        self.interval = interval
        self._limit = keys
        self._pending: dict[str, None] = {}  # an ordered set
        self._several = False
        self._busy = False
        self._wake = threading.Condition()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        #: Batches and notifications sent so far.
        self.batches = 0
        self.sent = 0

    def start(self) -> None:
        """Start the sending thread (a daemon: it never holds a process's exit)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="truenorth-announce", daemon=True)
            self._thread.start()

    def changed(self, key: str) -> None:
        """Repository ``key``'s views changed (any thread): announce it with the next batch."""
        payload = key if isinstance(key, str) and len(key) <= _MAX_KEY_CHARS and "\x00" not in key else ""
        with self._wake:
            if self._closed.is_set():
                return
            if payload and (payload in self._pending or len(self._pending) < self._limit):
                self._pending[payload] = None
            else:
                self._several = True
            self._wake.notify_all()

    def close(self) -> None:
        """Stop: what is pending goes out in one last batch; returns at once (no join)."""
        with self._wake:
            self._closed.set()
            self._wake.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is pending nor being sent (tests); False after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._pending or self._several or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, _SLICE_SECONDS))
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._pending or self._several or self._closed.is_set()):
                    self._wake.wait()
                batch = [""] if self._several else list(self._pending)
                if not (self._pending or self._several):
                    return  # closed, nothing left
                self._pending.clear()
                self._several, self._busy = False, True
            try:
                self._send(batch)
                self.batches += 1
                self.sent += len(batch)
            except Exception as exc:  # the store is failing: the streams' keep-alive covers it
                log.debug("cannot announce activity: %s", type(exc).__name__)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()
            if self._closed.wait(self.interval):
                with self._wake:
                    if not (self._pending or self._several):
                        return
