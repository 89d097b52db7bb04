"""Resolving a stack's inputs from its upstreams' recorded outputs (core/inputs.py)."""

from __future__ import annotations

import pytest

from truenorth.core import inputs, outputs, plans

DB_HOST = outputs.InputRef(name="db_host", stack="database", output="address")
PASSWORD = outputs.InputRef(name="password", stack="database", output="password")
CIDR = outputs.InputRef(name="cidr", stack="network", output="cidr")


def applied(
    stack: str, *records: inputs.Recorded, pending: inputs.PendingPlan | None = None
) -> inputs.Upstream:
    return inputs.Upstream(
        stack=stack, applied=True, outputs={record.name: record for record in records}, pending=pending
    )


def resolve(
    *refs: outputs.InputRef, ignore_pending: bool = False, **upstreams: inputs.Upstream
) -> inputs.Resolution:
    return inputs.resolve(stack="app", refs=refs, upstreams=upstreams, ignore_pending=ignore_pending)


def test_a_recorded_output_is_known_with_its_digest() -> None:
    found = resolve(DB_HOST, database=applied("database", inputs.Recorded(name="address", value="10.0.0.5")))
    item = found.inputs["db_host"]
    assert (item.known, item.value, item.sensitive) == (True, "10.0.0.5", False)
    assert item.digest == outputs.digest_of("10.0.0.5")
    assert found.waiting == ()
    assert found.basis == {"db_host": f"value {item.digest}"}


def test_a_never_applied_upstream_gives_unknown_inputs_in_words() -> None:
    found = resolve(DB_HOST, CIDR, database=inputs.Upstream(stack="database"))  # network: not even recorded
    assert [item.name for item in found.waiting] == ["cidr", "db_host"]
    assert found.inputs["db_host"].placeholder() == "(known after database applies)"
    assert found.inputs["cidr"].placeholder() == "(known after network applies)"
    assert found.problems == ()


def test_a_pending_terraform_plan_hides_only_the_outputs_it_changes() -> None:
    pending = inputs.pending_plan(
        engine="terraform",
        has_changes=True,
        changes=[
            plans.Change(
                address="output.address", action=plans.Action.UPDATE, resource_type="output", name="address"
            ),
            plans.Change(
                address="terraform_data.x", action=plans.Action.UPDATE, resource_type="terraform_data"
            ),
        ],
    )
    upstream = applied(
        "database",
        inputs.Recorded(name="address", value="10.0.0.5"),
        inputs.Recorded(name="password", sensitive=True, digest="keyed"),
        pending=pending,
    )
    found = resolve(DB_HOST, PASSWORD, database=upstream)
    assert not found.inputs["db_host"].known
    assert found.inputs["password"].known and found.inputs["password"].digest == "keyed"
    assert found.sealed == {"password": upstream.outputs["password"]}  # the caller unseals it
    assert found.inputs["password"].value is None
    # A drift check compares with what was applied: the pending plan does not count.
    assert resolve(DB_HOST, database=upstream, ignore_pending=True).inputs["db_host"].value == "10.0.0.5"


@pytest.mark.parametrize(
    ("engine", "changes", "has_changes", "expected"),
    [
        ("terraform", [], False, None),
        ("terraform", [plans.Change(address="terraform_data.x", action=plans.Action.CREATE)], True, None),
        ("ansible", [], True, inputs.PendingPlan(every_output=True)),
        ("kubernetes", [], False, None),
    ],
)
def test_pending_plan(
    engine: str, changes: list[plans.Change], has_changes: bool, expected: inputs.PendingPlan | None
) -> None:
    assert inputs.pending_plan(engine=engine, changes=changes, has_changes=has_changes) == expected


def test_any_pending_plan_of_another_engine_hides_every_output() -> None:
    upstream = applied(
        "hosts", inputs.Recorded(name="address", value="a"), pending=inputs.PendingPlan(every_output=True)
    )
    found = inputs.resolve(
        stack="app",
        refs=[outputs.InputRef(name="x", stack="hosts", output="address")],
        upstreams={"hosts": upstream},
    )
    assert found.inputs["x"].placeholder() == "(known after hosts applies)"


def test_a_missing_output_of_an_applied_stack_is_an_error_naming_stack_and_field() -> None:
    upstream = applied(
        "database", inputs.Recorded(name="port", value=5432), inputs.Recorded(name="user", value="u")
    )
    found = resolve(DB_HOST, database=upstream)
    assert found.basis == {"db_host": "missing"}
    with pytest.raises(inputs.InputError) as caught:
        found.check()
    assert str(caught.value) == (
        'stack app, inputs.db_host: stack database has no output "address" (its outputs: port, user)'
    )


def test_the_missing_output_error_lists_a_bounded_number_of_names() -> None:
    many = [inputs.Recorded(name=f"o{index:03}", value=index) for index in range(500)]
    with pytest.raises(inputs.InputError) as caught:
        resolve(DB_HOST, database=applied("database", *many)).check()
    assert "(480 more)" in str(caught.value)
    assert len(str(caught.value)) < 400


def test_outputs_recorded_without_an_applied_revision_count_as_applied() -> None:
    upstream = inputs.Upstream(
        stack="database", applied=False, outputs={"address": inputs.Recorded(name="address")}
    )
    assert not resolve(DB_HOST, database=upstream).inputs["db_host"].known  # the store says "applied" for it


def test_the_basis_changes_when_a_value_or_a_pending_plan_changes() -> None:
    before = resolve(DB_HOST, database=applied("database", inputs.Recorded(name="address", value="a"))).basis
    same = resolve(DB_HOST, database=applied("database", inputs.Recorded(name="address", value="a"))).basis
    moved = resolve(DB_HOST, database=applied("database", inputs.Recorded(name="address", value="b"))).basis
    pending = resolve(
        DB_HOST,
        database=applied(
            "database",
            inputs.Recorded(name="address", value="a"),
            pending=inputs.PendingPlan(every_output=True),
        ),
    ).basis
    assert before == same
    assert len({before["db_host"], moved["db_host"], pending["db_host"]}) == 3
