"""The dependency walk both orchestrators share (core/walks.py), driven by data files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from truenorth.core import walks

SCENARIOS = yaml.safe_load((Path(__file__).parents[1] / "data" / "walks" / "scenarios.yaml").read_text())


def _describe(step: walks.Step) -> str:
    if isinstance(step, walks.Start):
        after = f" after {','.join(step.applied_upstream)}" if step.applied_upstream else ""
        return f"start {step.stack}{after}"
    if isinstance(step, walks.Skip):
        return f"skip {step.stack}: {','.join(step.failed)}"
    return f"wait {step.stack}: {','.join(step.waiting_for)}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_walk(scenario: dict) -> None:
    walk = walks.Walk([(name, deps) for name, deps in scenario["stacks"].items()])
    seen: list[str] = []
    while not walk.done:
        steps = walk.ready()
        assert steps or walk.running, "the walk is stuck"
        seen.extend(_describe(step) for step in steps)
        for step in steps:
            if isinstance(step, walks.Start):
                walk.finish(step.stack, walks.Ended(scenario["ends"][step.stack]))
    assert seen == scenario["steps"]


def test_skip_reason_names_the_failed_stacks() -> None:
    walk = walks.Walk([("a", []), ("b", ["a"])])
    (start,) = walk.ready()
    walk.finish(start.stack, walks.Ended.FAILED)
    (skip,) = walk.ready()
    assert isinstance(skip, walks.Skip)
    assert skip.reason == "not applied: dependency a failed"


def test_a_stack_not_started_cannot_finish() -> None:
    walk = walks.Walk([("a", [])])
    with pytest.raises(ValueError, match="not started"):
        walk.finish("a", walks.Ended.OK)


def test_a_long_chain_needs_no_recursion() -> None:
    names = [f"s{i}" for i in range(5000)]
    walk = walks.Walk([(name, [names[i - 1]] if i else []) for i, name in enumerate(names)])
    count = 0
    while not walk.done:
        for step in walk.ready():
            count += 1
            walk.finish(step.stack, walks.Ended.OK)
    assert count == 5000
