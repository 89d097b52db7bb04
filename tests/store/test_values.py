"""Values come back as they went in, on both backends: JSON, unicode, aware UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from truenorth.store import Store

NESTED = {
    "counts": {"add": 1, "change": 0, "destroy": 2},
    "float": 1.25,
    "flags": [True, False, None],
    "deep": {"a": [{"b": [{"c": "d"}]}]},
    "unicode": "héllo wörld ✓ 日本語 🚀",
    "quotes": 'it\'s "quoted" \\ back\\slash',
    "nul_in_json": "a\x00b",
    "empty": {},
    "big": 2**53,
}


def test_nested_json_and_unicode_round_trip(store: Store) -> None:
    run_id = store.start_run(
        stack="web", repository="https://git.example.test/ünï/cödé.git", revision="a" * 40, kind="plan",
        actor="zoë", reason="fix: ✓ naïve café",
    )  # fmt: skip
    changes = [{"address": "terraform_data.ü", "before": None, "after": NESTED}, ["x", 1, 2.5]]
    store.finish_run(
        run_id, status="succeeded", summary=NESTED, changes=changes, hosts=[], output="résumé ✓\n"
    )
    record = store.get_run(run_id)
    assert record is not None
    assert record.summary == NESTED
    assert record.changes == changes
    assert record.output == "résumé ✓\n"
    assert (record.actor, record.reason, record.repository) == (
        "zoë", "fix: ✓ naïve café", "https://git.example.test/ünï/cödé.git",
    )  # fmt: skip


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(store_url: str) -> None:
    local = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2031, 6, 7, 8, 9, 10, 123456, tzinfo=local)
    with Store.open(store_url, clock=lambda: moment) as store:
        run_id = store.start_run(stack="web", repository="r", revision="a" * 40, kind="plan")
        stack = store.upsert_stack(repository="r", name="web", applied_at=moment)
        record = store.get_run(run_id)
    assert record is not None
    for value in (record.started_at, stack.applied_at, stack.updated_at):
        assert value is not None
        assert value == moment
        assert value.utcoffset() == timedelta(0)
        assert value.tzinfo is UTC
        assert value.hour == 2 and value.minute == 39 and value.microsecond == 123456


def test_the_real_clock_stamps_aware_utc(store_url: str) -> None:
    before = datetime.now(UTC)
    with Store.open(store_url) as store:
        run_id = store.start_run(stack="web", repository="r", revision="a" * 40, kind="plan")
        store.finish_run(run_id, status="succeeded")
        record = store.get_run(run_id)
    after = datetime.now(UTC)
    assert record is not None and record.finished_at is not None
    assert record.started_at.tzinfo is UTC and record.finished_at.tzinfo is UTC
    assert before <= record.started_at <= record.finished_at <= after
