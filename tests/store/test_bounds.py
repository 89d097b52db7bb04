"""Engine output is untrusted text: a run-log line or an error is bounded where it is stored."""

from __future__ import annotations

from truenorth.store import Store, rows


def test_a_huge_log_line_and_error_are_cut_with_a_marker(store: Store) -> None:
    run_id = store.start_run(stack="web", repository="r", revision="a" * 40, kind="apply")
    line = "é" + "a1" * (1024 * 1024)
    store.append_log(run_id, [line, "next"])
    (first_seq, first), (_, second) = store.read_log(run_id)
    assert (
        first == line[: rows.MAX_LOG_LINE] + f"... ({2 * 1024 * 1024 + 2 - rows.MAX_LOG_LINE - 1} more bytes)"
    )
    assert (first_seq, second) == (1, "next")
    store.finish_run(run_id, status="failed", error="x" * (rows.MAX_ERROR + 10))
    assert store.get_run(run_id).error == "x" * rows.MAX_ERROR + "... (10 more bytes)"
