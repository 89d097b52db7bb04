"""Reading real ``terraform show -json`` output (fixtures from tests/data/terraform)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truenorth.core import plans as core_plans
from truenorth.core import redaction
from truenorth.core.redaction import SENSITIVE_MARKER
from truenorth.engines.terraform import plans

DATA = Path(__file__).resolve().parents[2] / "data" / "terraform"
CANARY = "CANARY-s3cr3t-value"
SHARED_CANARY = "CANARY-shared-api-key"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def by_address(reading: plans.PlanReading) -> dict[str, core_plans.Change]:
    return {item.address: item for item in reading.changes}


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["no-op"], core_plans.Action.NOOP),
        (["create"], core_plans.Action.CREATE),
        (["read"], core_plans.Action.READ),
        (["update"], core_plans.Action.UPDATE),
        (["delete", "create"], core_plans.Action.REPLACE),
        (["create", "delete"], core_plans.Action.REPLACE),
        (["delete"], core_plans.Action.DELETE),
        (["forget"], core_plans.Action.DELETE),
        (["explode"], core_plans.Action.UNKNOWN),
        ([], core_plans.Action.UNKNOWN),
    ],
)
def test_actions_table(actions: list[str], expected: core_plans.Action) -> None:
    assert plans.action_of(actions) is expected


def test_create_plan_masks_sensitive_and_unknown_values() -> None:
    reading = plans.read_plan(load("plan-create"))
    changes = by_address(reading)
    assert set(changes) == {
        "terraform_data.vpc",
        "terraform_data.token",
        "terraform_data.old",
        "terraform_data.tags",
        "terraform_data.gateway",
        "output.cidr",
        "output.token",
    }
    token = changes["terraform_data.token"]
    assert token.action is core_plans.Action.CREATE
    assert token.resource_type == "terraform_data"
    assert token.name == "token"
    assert token.before is None
    assert token.after == {
        "id": plans.UNKNOWN_MARKER,
        "input": SENSITIVE_MARKER,
        "output": plans.UNKNOWN_MARKER,
        "triggers_replace": None,
    }
    assert changes["terraform_data.vpc"].after["input"] == "10.0.0.0/16"
    assert changes["output.cidr"].after == plans.UNKNOWN_MARKER
    assert changes["output.cidr"].resource_type == "output"
    assert changes["output.token"].after == SENSITIVE_MARKER
    summary = core_plans.summarize(reading.changes)
    assert (summary.add, summary.change, summary.destroy, summary.outputs) == (5, 0, 0, 2)
    assert reading.terraform_version == "1.11.4"


def test_changes_plan_covers_every_action() -> None:
    reading = plans.read_plan(load("plan-changes"))
    actions = {address: item.action for address, item in by_address(reading).items()}
    assert actions == {
        "data.terraform_remote_state.shared": core_plans.Action.READ,
        "terraform_data.gateway": core_plans.Action.REPLACE,  # create_before_destroy
        "terraform_data.old": core_plans.Action.DELETE,
        "terraform_data.tags": core_plans.Action.UPDATE,
        "terraform_data.token": core_plans.Action.NOOP,
        "terraform_data.vpc": core_plans.Action.REPLACE,
        "output.cidr": core_plans.Action.UPDATE,
        "output.token": core_plans.Action.UPDATE,
        "output.zone": core_plans.Action.CREATE,
    }
    changes = by_address(reading)
    assert "forces replacement" in changes["terraform_data.vpc"].reason
    assert "triggers_replace" in changes["terraform_data.vpc"].reason
    assert changes["terraform_data.old"].reason == "no longer in the configuration"
    assert changes["terraform_data.old"].after is None
    assert changes["terraform_data.old"].before["input"] == "legacy"
    assert "dependency has pending changes" in changes["data.terraform_remote_state.shared"].reason
    assert changes["terraform_data.tags"].before["input"] == {"env": "dev", "owner": "net"}
    assert changes["terraform_data.tags"].after["input"] == {"env": "prod", "owner": "net"}
    # The unchanged token keeps its secret masked on both sides.
    assert changes["terraform_data.token"].before["input"] == SENSITIVE_MARKER
    assert changes["terraform_data.token"].after["input"] == SENSITIVE_MARKER
    assert changes["output.token"].before == SENSITIVE_MARKER
    assert changes["output.token"].after == SENSITIVE_MARKER
    summary = core_plans.summarize(reading.changes)
    # Resources count like Terraform's "Plan:" line (2 replaces; tags; 2 replaces + old);
    # the three changed outputs (output.zone and two updates) are counted apart.
    assert (summary.add, summary.change, summary.destroy, summary.read) == (2, 1, 3, 1)
    assert summary.outputs == 3


def test_noop_plan_has_no_changes() -> None:
    reading = plans.read_plan(load("plan-noop"))
    assert {item.action for item in reading.changes} == {core_plans.Action.NOOP}
    assert not core_plans.summarize(reading.changes).has_changes


@pytest.mark.parametrize("name", ["plan-create", "plan-noop", "plan-changes"])
def test_no_secret_survives_in_changes(name: str) -> None:
    document = load(name)
    assert CANARY in json.dumps(document)  # the fixture really holds it
    reading = plans.read_plan(document)
    text = json.dumps([item.to_dict() for item in reading.changes])
    assert CANARY not in text
    assert CANARY in reading.secrets
    assert CANARY not in repr(reading)


def test_unmarked_copy_of_a_secret_is_masked_too() -> None:
    # terraform_data copies its sensitive input into ``output`` without marking it.
    document = load("plan-noop")
    (raw,) = [item for item in document["resource_changes"] if item["address"] == "terraform_data.token"]
    assert raw["change"]["after"]["output"] == CANARY
    assert raw["change"]["after_sensitive"] == {"input": True}
    token = by_address(plans.read_plan(document))["terraform_data.token"]
    assert token.after["input"] == SENSITIVE_MARKER
    assert token.after["output"] == redaction.REDACTED


def test_secrets_are_collected_from_every_source() -> None:
    changes = plans.sensitive_values(load("plan-changes"))
    assert {CANARY, "CANARY-s3cr3t-value-rotated"} <= changes
    # Sensitive variable values are found through the configuration's declaration alone.
    document = load("plan-create")
    only_variables = {key: document[key] for key in ("variables", "configuration")}
    assert plans.sensitive_values(only_variables) == {CANARY}
    # ... and the non-sensitive variable is not collected.
    assert "10.0.0.0/16" not in plans.sensitive_values(document)
    # Outputs marked sensitive in prior_state.
    prior = {"prior_state": document["prior_state"]}
    assert plans.sensitive_values(prior) == {CANARY}


def test_remote_state_outputs_lose_sensitivity_so_paths_are_reported() -> None:
    document = load("plan-changes")
    # Terraform does not mark the other state's sensitive output here: the caller must.
    assert SHARED_CANARY not in plans.sensitive_values(document)
    assert plans.remote_state_paths(document) == ("../shared/terraform.tfstate",)


def test_redact_change_masks_registered_secrets_anywhere() -> None:
    document = load("plan-changes")
    reading = plans.read_plan(document)
    leaky = [item for item in reading.changes if SHARED_CANARY in json.dumps(item.to_dict())]
    assert leaky == []  # a deferred read shows no values; build one that would leak
    change = core_plans.Change(
        address="terraform_data.x",
        action=core_plans.Action.UPDATE,
        before={"input": SHARED_CANARY, "list": [f"key={SHARED_CANARY}"]},
        after={"input": "fine"},
        reason=f"because {SHARED_CANARY}",
    )
    redacted = plans.redact_change(change, redaction.Redactor([SHARED_CANARY]))
    assert SHARED_CANARY not in json.dumps(redacted.to_dict())
    assert redacted.after == {"input": "fine"}
    assert redacted.action is core_plans.Action.UPDATE


def test_resource_drift_is_reported_by_address() -> None:
    document = {
        "resource_drift": [
            {"address": "terraform_data.a", "change": {"actions": ["update"]}},
            {"address": "terraform_data.b", "change": {"actions": ["no-op"]}},
        ]
    }
    assert plans.read_plan(document).drifted == ("terraform_data.a",)


def test_nested_unknowns_and_sensitive_lists() -> None:
    document = {
        "resource_changes": [
            {
                "address": "module.m.terraform_data.x[0]",
                "type": "terraform_data",
                "name": "x",
                "change": {
                    "actions": ["update"],
                    "before": {"input": ["a", "hidden-one"], "tags": {"k": "v"}},
                    "after": {"input": ["a", "hidden-two"], "tags": {"k": "v"}},
                    "after_unknown": {"input": [False, False], "tags": {"new": True}, "id": True},
                    "before_sensitive": {"input": [False, True]},
                    "after_sensitive": {"input": [False, True]},
                },
            }
        ],
    }
    reading = plans.read_plan(document)
    (change,) = reading.changes
    assert change.before == {"input": ["a", SENSITIVE_MARKER], "tags": {"k": "v"}}
    assert change.after == {
        "input": ["a", SENSITIVE_MARKER],
        "tags": {"k": "v", "new": plans.UNKNOWN_MARKER},
        "id": plans.UNKNOWN_MARKER,
    }
    assert reading.secrets == {"hidden-one", "hidden-two"}


def test_import_of_unchanged_object_counts_as_change() -> None:
    document = {
        "resource_changes": [
            {
                "address": "terraform_data.x",
                "change": {"actions": ["no-op"], "importing": {"id": "abc"}, "before": {}, "after": {}},
            }
        ]
    }
    (change,) = plans.read_plan(document).changes
    assert change.action is core_plans.Action.UPDATE
    assert "imported" in change.reason


def test_garbage_is_read_without_crashing() -> None:
    documents: list[dict[str, Any]] = [
        {},
        {"resource_changes": "x"},
        {"resource_changes": [1, {"change": 3}]},
        {"output_changes": []},
    ]
    for document in documents:
        reading = plans.read_plan(document)
        assert all(isinstance(item, core_plans.Change) for item in reading.changes)
