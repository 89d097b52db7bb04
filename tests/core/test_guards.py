"""The guards every apply path asks (core/guards.py)."""

from __future__ import annotations

import pytest

from truenorth.core import guards, outputs, states

A = "a" * 40
B = "b" * 40


@pytest.mark.parametrize(
    ("has_changes", "auto_apply", "direction", "expected"),
    [
        (False, True, guards.Direction.FORWARD, guards.Decision.NOTHING),
        (True, True, guards.Direction.FORWARD, guards.Decision.APPLY),
        (True, False, guards.Direction.FORWARD, guards.Decision.HOLD),
        (True, True, guards.Direction.DIVERGED, guards.Decision.HOLD),
        (True, True, guards.Direction.OLDER, guards.Decision.HOLD),
    ],
)
def test_after_plan(
    has_changes: bool, auto_apply: bool, direction: guards.Direction, expected: guards.Decision
) -> None:
    assert guards.after_plan(has_changes=has_changes, auto_apply=auto_apply, direction=direction) is expected


def test_approval_needs_a_pending_stack() -> None:
    assert guards.check_approval(stack="app", state=states.SyncState.PENDING_APPROVAL) is None
    refusal = guards.check_approval(stack="app", state=states.SyncState.SYNCED)
    assert refusal == guards.Refusal(
        guards.RefusalKind.CONFLICT, "stack 'app' is not waiting for approval (it is synced)"
    )


@pytest.mark.parametrize(
    ("plan", "refused"),
    [
        (None, True),
        (guards.StoredPlan(kind="plan", status="succeeded", has_changes=True), False),
        (guards.StoredPlan(kind="plan", status="failed", has_changes=True), True),
        (guards.StoredPlan(kind="plan", status="succeeded", has_changes=False), True),
        (guards.StoredPlan(kind="drift", status="succeeded", has_changes=True), True),
    ],
)
def test_stored_plan(plan: guards.StoredPlan | None, refused: bool) -> None:
    refusal = guards.check_stored_plan(stack="app", plan=plan)
    assert (refusal is not None) is refused
    if refusal is not None:
        assert refusal.kind is guards.RefusalKind.CONFLICT


def test_never_backwards_except_rollback() -> None:
    assert guards.check_apply_direction(direction=guards.Direction.FORWARD, target=A, applied=B) is None
    refusal = guards.check_apply_direction(direction=guards.Direction.OLDER, target=A, applied=B)
    assert refusal is not None and "use rollback" in refusal.message and A[:12] in refusal.message


def test_rollback_rules() -> None:
    ok = guards.check_rollback(
        stack="app", auto_apply=False, reason="bad", wanted=A[:8], applied_revisions=[A, B]
    )
    assert ok == A
    no_reason = guards.check_rollback(
        stack="app", auto_apply=False, reason=" ", wanted=A, applied_revisions=[A]
    )
    assert isinstance(no_reason, guards.Refusal) and no_reason.kind is guards.RefusalKind.INVALID
    auto = guards.check_rollback(stack="app", auto_apply=True, reason="bad", wanted=A, applied_revisions=[A])
    assert isinstance(auto, guards.Refusal) and "auto_apply" in auto.message
    never = guards.check_rollback(
        stack="app", auto_apply=False, reason="bad", wanted=B, applied_revisions=[A]
    )
    assert isinstance(never, guards.Refusal) and "never applied" in never.message


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(A, A), (A[:7].upper(), A), (A[:6], None), ("zzzzzzz", None), ("", None), ("a" * 10_000, None)],
)
def test_match_revision(wanted: str, expected: str | None) -> None:
    assert guards.match_revision(wanted, [A, B]) == expected


def test_an_ambiguous_prefix_matches_nothing() -> None:
    assert guards.match_revision("abcdef0", ["abcdef0" + "1" * 33, "abcdef0" + "2" * 33]) is None


def known(name: str, digest: str, *, stack: str = "network") -> outputs.InputValue:
    return outputs.InputValue(
        ref=outputs.InputRef(name=name, stack=stack, output=name), value="v", digest=digest
    )


def unknown(name: str, *, stack: str = "network") -> outputs.InputValue:
    return outputs.InputValue(ref=outputs.InputRef(name=name, stack=stack, output=name), known=False)


def test_a_waiting_plan_is_never_applied_by_itself() -> None:
    for auto_apply in (True, False):
        decision = guards.after_plan(
            has_changes=True, auto_apply=auto_apply, direction=guards.Direction.FORWARD, waiting=True
        )
        assert decision is guards.Decision.WAIT


def test_a_plan_with_an_unknown_input_is_refused_naming_it() -> None:
    assert guards.check_inputs_known(stack="app", inputs=[known("cidr", "d")]) is None
    refusal = guards.check_inputs_known(
        stack="app", inputs=[known("cidr", "d"), unknown("db_host", stack="database")]
    )
    assert refusal is not None and refusal.kind is guards.RefusalKind.CONFLICT
    assert refusal.message == (
        "the plan of stack 'app' cannot be applied: input db_host (known after database applies) not known "
        "yet; it is planned again when that stack is applied"
    )


def test_a_stored_waiting_plan_cannot_be_synced() -> None:
    plan = guards.StoredPlan(
        kind="plan",
        status="succeeded",
        has_changes=True,
        waiting_for=("db_host (known after database applies)",),
    )
    refusal = guards.check_stored_plan(stack="app", plan=plan)
    assert refusal is not None and "db_host (known after database applies)" in refusal.message


def test_stale_inputs_are_refused() -> None:
    planned = [known("cidr", "d1"), known("region", "r")]
    assert (
        guards.check_inputs_current(stack="app", planned=planned, current={i.name: i for i in planned})
        is None
    )
    refusal = guards.check_inputs_current(
        stack="app", planned=planned, current={"cidr": known("cidr", "d2"), "region": known("region", "r")}
    )
    assert refusal is not None
    assert refusal.message == (
        "the plan of stack 'app' is stale: input cidr (network.cidr) changed since it was made; plan again"
    )
    # An input gone unknown, added or removed since the plan counts as changed too.
    assert guards.check_inputs_current(stack="app", planned=planned, current={"cidr": known("cidr", "d1")})
    assert guards.check_inputs_current(
        stack="app", planned=planned, current={"cidr": unknown("cidr"), "region": known("region", "r")}
    )
