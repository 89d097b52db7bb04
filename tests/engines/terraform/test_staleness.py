"""Fingerprints and the reasons a saved plan is refused."""

from __future__ import annotations

from typing import Any

from truenorth.core import plans
from truenorth.engines.terraform import staleness

BASE: dict[str, Any] = {
    "revision": "r1",
    "state": "lin:3",
    "workspace": "default",
    "variables": {"a": 1},
    "var_files": [("f", "d")],
}


def make_plan(**overrides: object) -> plans.Plan:
    values: dict[str, Any] = {
        "stack": "app",
        "engine": "terraform",
        "revision": "r1",
        "changes": (),
        "summary": plans.PlanSummary(),
        "artifact": "/state/app/plans/r1.tfplan",
        "fingerprint": staleness.fingerprint(**BASE),
        "meta": {staleness.ARTIFACT_DIGEST_KEY: "abc"},
    }
    values.update(overrides)
    return plans.Plan(**values)


def test_fingerprint_changes_with_every_input() -> None:
    first = staleness.fingerprint(**BASE)
    assert first == staleness.fingerprint(**BASE)
    variants: list[dict[str, Any]] = [
        {"revision": "r2"},
        {"state": "lin:4"},
        {"state": "other:3"},
        {"workspace": "dev"},
        {"variables": {"a": 2}},
        {"variables": {"a": "1"}},
        {"var_files": [("f", "e")]},
    ]
    seen = {first}
    for change in variants:
        value = staleness.fingerprint(**{**BASE, **change})
        assert value not in seen, change
        seen.add(value)


def test_identity_reasons() -> None:
    plan = make_plan()
    assert staleness.identity_reason(plan, stack="app", revision="r1") is None
    assert "revision r1, not r2" in str(staleness.identity_reason(plan, stack="app", revision="r2"))
    assert "for stack 'app', not 'db'" in str(staleness.identity_reason(plan, stack="db", revision="r1"))
    assert "no saved plan file" in str(
        staleness.identity_reason(make_plan(artifact=None), stack="app", revision="r1")
    )


def test_inputs_reasons() -> None:
    plan = make_plan()
    current = plan.fingerprint
    assert staleness.inputs_reason(plan, current_fingerprint=current, artifact_digest="abc") is None
    assert "changed since the plan" in str(
        staleness.inputs_reason(plan, current_fingerprint="x", artifact_digest="abc")
    )
    assert "plan file is gone" in str(
        staleness.inputs_reason(plan, current_fingerprint=current, artifact_digest=None)
    )
    assert "replaced by a newer plan" in str(
        staleness.inputs_reason(plan, current_fingerprint=current, artifact_digest="def")
    )
    # Plans restored without the digest are still checked on the fingerprint.
    bare = make_plan(meta={})
    assert staleness.inputs_reason(bare, current_fingerprint=current, artifact_digest="def") is None
