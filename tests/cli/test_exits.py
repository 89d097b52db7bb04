"""The exit-code rule of ``truenorth plan`` (:mod:`truenorth.cli.exits`): 0, 2 or 1, and why."""

from __future__ import annotations

from typing import Any

import pytest

from truenorth.cli import exits
from truenorth.core import outputs, plans


def _plan(summary: plans.PlanSummary, **extra: Any) -> plans.Plan:
    return plans.Plan(stack="s", engine="ansible", revision="r", changes=(), summary=summary, **extra)


CLEAN = _plan(plans.PlanSummary())
DEFINITE = _plan(plans.PlanSummary(add=1))
UNKNOWN_ONLY = _plan(plans.PlanSummary(unknown=2, hosts_unknown=1))
OUTPUTS_ONLY = _plan(plans.PlanSummary(outputs=1))
PARTIAL = _plan(plans.PlanSummary(change=1), meta={plans.PARTIAL: True})
WAITING = _plan(
    plans.PlanSummary(unknown=1),
    inputs=(outputs.InputValue(ref=outputs.InputRef("db", "network", "host"), value=None, known=False),),
)


@pytest.mark.parametrize(
    ("planned", "failed", "unknown_is_change", "code"),
    [
        ([], 0, False, 0),
        ([CLEAN], 0, False, 0),
        ([DEFINITE, CLEAN], 0, False, 2),
        ([OUTPUTS_ONLY], 0, False, 2),
        # What check mode cannot predict is listed, not a change: a re-plan reads clean.
        ([UNKNOWN_ONLY], 0, False, 0),
        ([UNKNOWN_ONLY], 0, True, 2),
        # A plan waiting for an input is not in sync.
        ([WAITING], 0, False, 2),
        # A partial plan or a failed one is an error, whatever else.
        ([PARTIAL], 0, False, 1),
        ([DEFINITE], 1, False, 1),
        ([CLEAN], 1, True, 1),
    ],
)
def test_plan_exit_codes(planned: list[plans.Plan], failed: int, unknown_is_change: bool, code: int) -> None:
    assert exits.plan_exit_code(planned, failed=failed, unknown_is_change=unknown_is_change) == code


def test_the_controller_still_applies_what_it_cannot_predict() -> None:
    """The CLI's rule is its own: a plan with only unknowns still has changes for the controller."""
    assert UNKNOWN_ONLY.has_changes and not exits.counts_as_change(UNKNOWN_ONLY)
