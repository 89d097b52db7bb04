"""Typed sync states and health, and their pure transitions (core/states.py)."""

from __future__ import annotations

import pytest

from truenorth.core import states

S = states.SyncState
H = states.Health


def test_health_order_is_gitops_engines() -> None:
    assert [h.value for h in sorted(H, key=lambda h: h.rank)] == [
        "Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown",
    ]  # fmt: skip
    assert states.worst([H.HEALTHY, H.PROGRESSING, H.SUSPENDED]) is H.PROGRESSING
    assert states.worst([]) is H.HEALTHY


def test_health_is_its_stored_text_but_ordered_by_rank() -> None:
    assert H.DEGRADED == "Degraded" and f"{H.UNKNOWN}" == "Unknown"
    assert H.HEALTHY < H.SUSPENDED < H.DEGRADED < H.UNKNOWN  # alphabetically, Degraded < Healthy
    assert sorted([H.UNKNOWN, H.DEGRADED, H.HEALTHY]) == [H.HEALTHY, H.DEGRADED, H.UNKNOWN]
    assert max([H.MISSING, H.PROGRESSING]) is H.MISSING
    assert [h.settled for h in H] == [True, True, False, False, False, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("healthy", H.HEALTHY),
        ("Degraded", H.DEGRADED),
        ("", H.UNKNOWN),
        (None, H.UNKNOWN),
        ("bogus", H.UNKNOWN),
    ],
)
def test_health_parse(text: str | None, expected: states.Health) -> None:
    assert H.parse(text) is expected


def test_sync_state_parse() -> None:
    assert S.parse("pending-approval") is S.PENDING_APPROVAL
    assert S.parse("nonsense") is S.UNKNOWN
    assert S.parse(None) is S.UNKNOWN


def test_after_plan() -> None:
    assert states.after_plan(ok=True, has_changes=False).sync_state is S.SYNCED
    assert states.after_plan(ok=True, has_changes=True).sync_state is S.OUT_OF_SYNC
    failed = states.after_plan(ok=False, has_changes=False, error="boom")
    assert failed.sync_state is S.FAILED and failed.error == "boom"


def test_after_plan_held_for_approval() -> None:
    held = states.after_plan(ok=True, has_changes=True, held=True, note="diverged")
    assert (held.sync_state, held.error) == (S.PENDING_APPROVAL, "diverged")
    assert states.after_plan(ok=True, has_changes=False, held=True).sync_state is S.SYNCED
    seen = states.after_plan(ok=True, has_changes=False, health=H.PROGRESSING)
    assert seen.fields() == {"sync_state": "synced", "error": None, "health": "Progressing"}
    assert "health" not in states.after_plan(ok=True, has_changes=True).fields()


def test_after_apply() -> None:
    ok = states.after_apply(succeeded=True)
    assert (ok.sync_state, ok.health, ok.error) == (S.SYNCED, H.HEALTHY, None)
    bad = states.after_apply(succeeded=False, error="x")
    assert (bad.sync_state, bad.health, bad.error) == (S.FAILED, H.DEGRADED, "x")
    progressing = states.after_apply(succeeded=True, health=H.PROGRESSING)
    assert progressing.health is H.PROGRESSING
    cancelled = states.after_apply(succeeded=False, cancelled=True)
    assert (cancelled.sync_state, cancelled.health) == (S.FAILED, H.UNKNOWN)
    assert states.after_apply_started().fields() == {"sync_state": "applying", "error": None}


def test_after_refused() -> None:
    refused = states.after_refused(error="older")
    assert (refused.sync_state, refused.error) == (S.OUT_OF_SYNC, "older")


@pytest.mark.parametrize(
    ("previous", "ok", "drifted", "before", "expected"),
    [
        (S.SYNCED, True, True, False, S.OUT_OF_SYNC),
        (S.SYNCED, True, False, False, S.SYNCED),
        (S.OUT_OF_SYNC, True, False, True, S.SYNCED),  # drift itself healed
        (S.OUT_OF_SYNC, True, False, False, None),  # out of sync for another reason: stays
        (S.PENDING_APPROVAL, True, False, False, None),  # a newer revision still waits
        (S.FAILED, True, False, False, None),
        (S.PENDING_APPROVAL, False, False, False, S.PENDING_APPROVAL),
        (S.APPLYING, False, False, False, S.UNKNOWN),
    ],
)
def test_after_drift_check(
    previous: states.SyncState, ok: bool, drifted: bool, before: bool, expected: states.SyncState | None
) -> None:
    found = states.after_drift_check(previous, ok=ok, drifted=drifted, drifted_before=before, error="e")
    assert (found.sync_state if found else None) is expected


def test_after_interrupted() -> None:
    found = states.after_interrupted(S.APPLYING, what="run 3")
    assert found is not None and found.sync_state is S.UNKNOWN and "run 3" in (found.error or "")
    assert found.fields()["health"] == "Unknown"
    assert states.after_interrupted(S.SYNCED, what="run 3") is None


def test_deployed_run_statuses_are_the_ones_the_store_queries() -> None:
    from truenorth.core import runs
    from truenorth.store import records

    assert {s.value for s in runs.RunStatus if s.deployed} == set(records.DEPLOYED_STATUSES)
