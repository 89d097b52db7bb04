"""Two plans are the same plan when they would do the same: real plan runs of three engines.

The data files in ``tests/data/plans/`` are plan runs as the store keeps them, recorded
from the real engines by ``tests/data/plans/record.py``: v2 of a stack planned from two
data dirs (``a``, ``b``: two replicas) over the same live system, and planned again
after one attribute of the live system changed out of band (``changed``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truenorth.controller.runs import executing
from truenorth.core import meanings, outputs, plans

DATA = Path(__file__).resolve().parent.parent / "data" / "plans"
ENGINES = ("terraform", "ansible", "kubernetes")
#: The address whose shown change the out-of-band edit alters, per engine.
CHANGED = {
    "terraform": "terraform_data.subnet",
    "ansible": "web1: greeting",
    "kubernetes": "core/ConfigMap/shop/web-config",
}


def record(engine: str, label: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{engine}-{label}.json").read_text())
    return data


def stored(engine: str, label: str) -> plans.Plan:
    """The plan as a replica rebuilds a stored plan run (what an approval applies)."""
    found = record(engine, label)
    return executing.plan_from_record(
        stack="x",
        engine=engine,
        revision=found["revision"],
        summary=found["summary"],
        changes=found["changes"],
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_one_plan_made_by_two_replicas_is_the_same_plan(engine: str) -> None:
    a, b = meanings.of_plan(stored(engine, "a")), meanings.of_plan(stored(engine, "b"))
    assert a == b
    assert a.digest == b.digest
    assert meanings.compare(a, b).same
    assert meanings.compare(a, b).describe() == "the same plan"


def test_the_runs_differ_in_what_the_meaning_leaves_out() -> None:
    # The two replicas' runs really differ: Terraform's saved plan file, its digest,
    # whether init ran; the Kubernetes staleness fingerprint. None of that is what the
    # plan would do.
    a, b = record("terraform", "a")["summary"], record("terraform", "b")["summary"]
    assert a["artifact"] != b["artifact"]
    assert a["meta"]["artifact_sha256"] != b["meta"]["artifact_sha256"]
    assert a["meta"]["init_ran"] != b["meta"]["init_ran"]
    assert (
        record("kubernetes", "a")["summary"]["fingerprint"]
        != record("kubernetes", "b")["summary"]["fingerprint"]
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_one_attribute_changed_in_the_live_system_is_another_plan(engine: str) -> None:
    approved, fresh = meanings.of_plan(stored(engine, "a")), meanings.of_plan(stored(engine, "changed"))
    assert approved.digest != fresh.digest
    difference = meanings.compare(approved, fresh)
    assert not difference.same
    assert difference.changes == (CHANGED[engine],)
    assert (difference.revision, difference.inputs, difference.hosts) == (False, (), ())
    assert difference.describe() == f"1 change differs ({CHANGED[engine]})"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fresh_plan_and_its_stored_copy_mean_the_same(engine: str) -> None:
    # The approved plan comes back from the store (JSON); the fresh one is the engine's object.
    plan = stored(engine, "b")
    copy = json.loads(json.dumps([item.to_dict() for item in plan.changes]))
    again = meanings.of_parts(
        revision=plan.revision,
        changes=[plans.Change.from_dict(item) for item in reversed(copy)],
        inputs=plan.inputs,
        unreachable_hosts=plan.unreachable_hosts,
    )
    assert again == meanings.of_plan(plan)


# ---------------------------------------------------------------------- the rules, one by one


def change(address: str, action: plans.Action = plans.Action.UPDATE, **fields: Any) -> plans.Change:
    return plans.Change(address=address, action=action, **fields)


def plan(*changes: plans.Change, revision: str = "a" * 40, **fields: Any) -> plans.Plan:
    return plans.Plan(
        stack="web",
        engine="terraform",
        revision=revision,
        changes=changes,
        summary=plans.summarize(changes),
        **fields,
    )


def value(name: str, digest: str, *, known: bool = True) -> outputs.InputValue:
    ref = outputs.InputRef(name=name, stack="network", output=name)
    return outputs.InputValue(ref=ref, value=None, sensitive=False, known=known, digest=digest)


def differ(approved: plans.Plan, fresh: plans.Plan) -> meanings.Difference:
    return meanings.compare(meanings.of_plan(approved), meanings.of_plan(fresh))


def test_run_details_are_not_part_of_the_meaning() -> None:
    base = plan(change("x.a", before={"n": 1}, after={"n": 2}))
    other = plan(
        change("x.a", before={"n": 1.0}, after={"n": 2}, reason="forces replacement"),
        output="other text",
        artifact="/elsewhere/plan.tfplan",
        fingerprint="f" * 32,
        meta={"init_ran": True, "sandbox": "off"},
    )
    assert differ(base, other).same


def test_no_op_and_read_entries_are_not_changes() -> None:
    base = plan(change("x.a"))
    other = plan(
        change("x.a"),
        change("data.x.b", plans.Action.READ, after={"t": 2}),
        change("x.c", plans.Action.NOOP, before={"v": 1}, after={"v": 1}),
    )
    assert differ(base, other).same


def test_each_part_of_a_change_counts() -> None:
    base = change("x.a", before={"n": 1}, after={"n": 2}, diff="-1\n+2")
    for other in (
        change("x.a", plans.Action.REPLACE, before={"n": 1}, after={"n": 2}, diff="-1\n+2"),
        change("x.a", before={"n": 0}, after={"n": 2}, diff="-1\n+2"),
        change("x.a", before={"n": 1}, after={"n": 3}, diff="-1\n+2"),
        change("x.a", before={"n": 1}, after={"n": 2}, diff="-0\n+2"),
        change("x.a", before={"n": 1}, after={"n": 2}, diff="-1\n+2", host="web2"),
    ):
        assert differ(plan(base), plan(other)).changes == ("x.a",), other


def test_a_change_in_one_plan_only_differs() -> None:
    difference = differ(plan(change("x.a")), plan(change("x.a"), change("x.b", plans.Action.CREATE)))
    assert difference.changes == ("x.b",)
    assert difference.describe() == "1 change differs (x.b)"


def test_inputs_revision_and_unreachable_hosts_count() -> None:
    base = plan(change("x.a"), inputs=(value("cidr", "1" * 64),))
    assert differ(base, plan(change("x.a"), inputs=(value("cidr", "2" * 64),))).inputs == ("cidr",)
    assert differ(base, plan(change("x.a"), inputs=(value("cidr", "1" * 64, known=False),))).inputs == (
        "cidr",
    )
    assert differ(base, plan(change("x.a"))).inputs == ("cidr",)
    assert differ(base, plan(change("x.a"), revision="b" * 40, inputs=base.inputs)).revision
    unreachable = plan(change("x.a"), inputs=base.inputs, unreachable_hosts=("db1",))
    difference = differ(base, unreachable)
    assert difference.hosts == ("db1",)
    assert difference.describe() == "unreachable hosts differ (db1)"


def test_masked_values_compare_as_shown() -> None:
    # The reviewer saw the mask; a sensitive value that changed behind it is not seen either.
    masked = {"password": "(sensitive value)"}
    assert differ(plan(change("x.a", after=masked)), plan(change("x.a", after=dict(masked)))).same


def test_the_description_names_a_few_addresses_bounded_and_escaped() -> None:
    many = [change(f"x.r{index}") for index in range(8)]
    text = differ(plan(), plan(*many)).describe()
    assert text == "8 changes differ (x.r0, x.r1, x.r2, x.r3, x.r4 and 3 more)"
    long = differ(plan(), plan(change("x.\x1b[31m" + "y" * 300))).describe()
    assert "\x1b" not in long and "\\x1b" in long
    assert "more bytes)" in long and len(long) < 300
