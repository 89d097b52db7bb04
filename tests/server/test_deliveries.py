"""The memory of delivery ids (case 14): duplicates detected, memory bounded."""

from __future__ import annotations

import threading

import pytest

from truenorth.server.deliveries import Deliveries


def test_duplicates_per_provider() -> None:
    seen = Deliveries()
    assert seen.first_time("github", "a")
    assert not seen.first_time("github", "a")
    assert seen.first_time("gitlab", "a")


def test_bounded_least_recently_seen_goes_first() -> None:
    seen = Deliveries(capacity=3)
    for delivery in "abc":
        seen.first_time("github", delivery)
    assert not seen.first_time("github", "a")  # refreshes "a"
    seen.first_time("github", "d")  # pushes out "b"
    assert len(seen) == 3
    assert seen.first_time("github", "b")
    assert not seen.first_time("github", "a")


def test_forget_lets_a_retry_through() -> None:
    seen = Deliveries()
    seen.first_time("github", "a")
    seen.forget("github", "a")
    assert seen.first_time("github", "a")


def test_concurrent_replays_pass_once() -> None:
    seen = Deliveries()
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def deliver() -> None:
        barrier.wait()
        results.append(seen.first_time("github", "same"))

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Deliveries(capacity=0)
