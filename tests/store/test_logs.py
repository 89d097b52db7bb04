"""Live run logs: append-only numbered lines that readers follow with ``after_seq``."""

from __future__ import annotations

import itertools
import threading

import pytest

from truenorth.store import Store, StoreError


def _run(store: Store) -> int:
    return store.start_run(stack="web", repository="r", revision="a" * 40, kind="apply")


def test_lines_are_numbered_in_order_and_read_after_a_position(store: Store) -> None:
    run_id = _run(store)
    store.append_log(run_id, ["first", "second"])
    store.append_log(run_id, [])
    store.append_log(run_id, ["third"])
    assert store.read_log(run_id) == [(1, "first"), (2, "second"), (3, "third")]
    assert store.read_log(run_id, after_seq=2) == [(3, "third")]
    assert store.read_log(run_id, after_seq=3) == []
    assert store.read_log(run_id, limit=2) == [(1, "first"), (2, "second")]


def test_each_run_has_its_own_log(store: Store) -> None:
    one, two = _run(store), _run(store)
    store.append_log(one, ["one-a"])
    store.append_log(two, ["two-a", "two-b"])
    store.append_log(one, ["one-b"])
    assert store.read_log(one) == [(1, "one-a"), (2, "one-b")]
    assert store.read_log(two) == [(1, "two-a"), (2, "two-b")]


def test_lines_can_still_arrive_after_the_run_finished(store: Store) -> None:
    run_id = _run(store)
    store.finish_run(run_id, status="succeeded")
    store.append_log(run_id, ["late flush"])
    assert store.read_log(run_id) == [(1, "late flush")]


def test_unstorable_characters_are_replaced_not_lost(store: Store) -> None:
    run_id = _run(store)
    store.append_log(run_id, ["nul\x00byte", "lone \udcff surrogate", "  é ✓ 日本  "])
    assert store.read_log(run_id) == [(1, "nul\ufffdbyte"), (2, "lone \ufffd surrogate"), (3, "  é ✓ 日本  ")]


def test_appending_to_an_unknown_run_or_a_bare_string_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="log of run 999: there is no such run"):
        store.append_log(999, ["x"])
    run_id = _run(store)
    with pytest.raises(ValueError, match="not one string"):
        store.append_log(run_id, "abc")
    assert store.read_log(run_id) == []


def test_concurrent_appenders_get_distinct_numbers(store_url: str) -> None:
    writers = [Store.open(store_url) for _ in range(2)]
    try:
        run_id = _run(writers[0])
        barrier = threading.Barrier(len(writers))
        failures: list[BaseException] = []

        def write(store: Store, name: str) -> None:
            try:
                barrier.wait()
                for n in range(30):
                    store.append_log(run_id, [f"{name}-{n}a", f"{name}-{n}b"])
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=write, args=(w, f"w{i}")) for i, w in enumerate(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        log = writers[1].read_log(run_id)
        assert [seq for seq, _ in log] == list(range(1, 121))
        for name in ("w0", "w1"):
            mine = [line for _, line in log if line.startswith(f"{name}-")]
            assert mine == [f"{name}-{n}{part}" for n in range(30) for part in "ab"]
        # Each batch stays together: a line "a" is always followed by its "b".
        for (_, line), (_, following) in itertools.pairwise(log):
            if line.endswith("a"):
                assert following == line[:-1] + "b"
    finally:
        for writer in writers:
            writer.close()
