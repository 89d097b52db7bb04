"""Plan summaries count like Terraform and per host like Ansible."""

from __future__ import annotations

from truenorth.core import plans

A = plans.Action


def change(action: plans.Action, host: str | None = None) -> plans.Change:
    return plans.Change(address=f"x.{action.value}.{host}", action=action, host=host)


def test_replace_counts_as_add_and_destroy() -> None:
    summary = plans.summarize(
        [change(A.CREATE), change(A.REPLACE), change(A.UPDATE), change(A.DELETE), change(A.NOOP)]
    )
    assert (summary.add, summary.change, summary.destroy) == (2, 1, 2)
    assert summary.headline() == "2 to add, 1 to change, 2 to destroy"
    assert summary.has_changes


def test_noop_and_read_are_not_changes() -> None:
    summary = plans.summarize([change(A.NOOP), change(A.READ)])
    assert not summary.has_changes
    assert summary.read == 1


def test_hosts_changed_unknown_unreachable() -> None:
    summary = plans.summarize(
        [change(A.UPDATE, "h1"), change(A.UNKNOWN, "h1"), change(A.UNKNOWN, "h2"), change(A.NOOP, "h3")],
        hosts_unreachable=["h4"],
    )
    assert (summary.hosts_changed, summary.hosts_unknown, summary.hosts_unreachable) == (1, 1, 1)
    assert summary.unknown == 2
    assert summary.has_changes
    assert "unknown" in summary.headline()


def test_unknown_alone_is_a_change() -> None:
    assert plans.summarize([change(A.UNKNOWN, "h")]).has_changes


def test_round_trip() -> None:
    item = plans.Change(address="a", action=A.UPDATE, before={"x": 1}, after={"x": 2}, host="h", task="t")
    assert plans.Change.from_dict(item.to_dict()) == item
    summary = plans.PlanSummary(add=1, hosts_unreachable=2)
    assert plans.PlanSummary.from_dict(summary.to_dict()) == summary


def test_unknowns_are_not_drift() -> None:
    only_unknown = plans.Plan(
        stack="s",
        engine="ansible",
        revision="r",
        changes=(change(A.UNKNOWN, "h1"), change(A.NOOP, "h2")),
        summary=plans.summarize([change(A.UNKNOWN, "h1"), change(A.NOOP, "h2")]),
    )
    assert only_unknown.has_changes and not only_unknown.has_drift
    updated = [change(A.UPDATE, "h1"), change(A.UNKNOWN, "h2")]
    assert plans.Plan(
        stack="s", engine="ansible", revision="r", changes=tuple(updated), summary=plans.summarize(updated)
    ).has_drift
    output_only = [plans.Change(address="output.x", action=A.UPDATE, resource_type=plans.OUTPUT_TYPE)]
    assert plans.summarize(output_only).has_definite_changes
