"""Which webhook deliveries were already handled: replays trigger nothing.

Forges retry deliveries and attackers replay captured ones; either way a delivery id
seen before must not trigger a second reconcile. :class:`Deliveries` remembers the most
recent ids per provider in a bounded LRU, so memory stays flat under a flood; an id
pushed out by newer ones would be handled again, which costs one extra ``ls-remote``.
Thread-safe: the check-and-record is one atomic step, so two concurrent deliveries with
one id cannot both pass.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["DEFAULT_CAPACITY", "Deliveries"]

#: How many delivery ids are remembered.
DEFAULT_CAPACITY = 10_000


class Deliveries:
    """A bounded, thread-safe memory of ``(provider, delivery id)`` pairs."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, provider: str, delivery_id: str) -> bool:
        """Record the id; True if it was new, False for a duplicate."""
        key = (provider, delivery_id)
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def forget(self, provider: str, delivery_id: str) -> None:
        """Drop an id again (its handling failed, so a retry should be handled)."""
        with self._lock:
            self._seen.pop((provider, delivery_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
