"""Issue #11: other stacks' outputs in as ``TF_VAR_``s, this stack's outputs out after apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engines.terraform.conftest import Lab, stack
from truenorth.core import outputs as core_outputs
from truenorth.core import plans as core_plans
from truenorth.core import redaction, runs
from truenorth.engines.protocol import EngineError
from truenorth.engines.terraform import TerraformEngine, staleness
from truenorth.engines.terraform import inputs as tf_inputs
from truenorth.engines.terraform import outputs as tf_outputs

CANARY = "CANARY-input-5d1e-do-not-leak"

TYPED = """
variable "s" { type = string }
variable "n" { type = number }
variable "b" { type = bool }
variable "l" { type = list(string) }
variable "m" { type = map(number) }
variable "o" { type = object({ a = string, b = list(number) }) }

resource "terraform_data" "x" {
  input = { s = var.s, n = var.n, b = var.b, l = var.l, m = var.m, o = var.o }
}

# Known only after apply: not a planned output.
output "echo" { value = terraform_data.x.output }
# Known at plan time.
output "direct" { value = { s = var.s, n = var.n, b = var.b, l = var.l, m = var.m, o = var.o } }
"""

VALUES: dict[str, Any] = {
    "s": 'a "quoted" string with spaces',
    "n": 3,
    "b": True,
    "l": ["10.0.1.0/24", "10.0.2.0/24"],
    "m": {"x": 1, "y": 2.5},
    "o": {"a": "z", "b": [1, 2]},
}

VAULT = """
variable "password" {
  type      = string
  sensitive = true
}

resource "terraform_data" "holder" {
  input = var.password
}

output "password" {
  value     = var.password
  sensitive = true
}

output "plain" { value = "visible" }
"""

# Reads the vault's sensitive output through remote state, where Terraform forgets that
# it is sensitive, and hands it on as a non-sensitive output.
COPIER = """
data "terraform_remote_state" "vault" {
  backend = "local"
  config  = { path = ".truenorth/deps/vault/terraform.tfstate" }
}

output "copied" { value = data.terraform_remote_state.vault.outputs.password }
"""


def given(name: str, value: Any, *, sensitive: bool = False, digest: str = "") -> core_outputs.InputValue:
    """An input as the controller resolves it (from stack ``up``, output ``name``)."""
    ref = core_outputs.InputRef(name=name, stack="up", output=name)
    if not digest:
        digest = ("keyed:" if sensitive else "") + core_outputs.digest_of(value)
    return core_outputs.InputValue(ref=ref, value=value, sensitive=sensitive, digest=digest)


def inputs_of(*items: core_outputs.InputValue) -> dict[str, core_outputs.InputValue]:
    return {item.name: item for item in items}


# --------------------------------------------------------------------- real terraform


@pytest.mark.slow
def test_inputs_of_every_json_type_reach_terraform_and_come_back_as_outputs(
    lab: Lab, engine: TerraformEngine
) -> None:
    checkout = lab.checkout({"stacks/app/main.tf": TYPED})
    given_inputs = inputs_of(*(given(name, value) for name, value in VALUES.items()))
    spec = stack("app")

    plan = engine.plan(lab.ctx(spec, checkout, inputs=given_inputs))

    resource = next(item for item in plan.changes if item.address == "terraform_data.x")
    assert resource.after["input"] == VALUES
    assert [item.name for item in plan.inputs] == sorted(VALUES)
    assert plan.to_dict()["inputs"][0] == {
        "name": "b",
        "source": "up.b",
        "known": True,
        "sensitive": False,
        "value": True,
        "digest": core_outputs.digest_of(True),
    }
    # ``echo`` is known only after apply, so only ``direct`` is a planned output.
    assert [(item.name, item.value, item.sensitive) for item in plan.planned_outputs] == [
        ("direct", VALUES, False)
    ]

    result = engine.apply(lab.ctx(spec, checkout, inputs=given_inputs), plan)

    assert result.ok, result.error
    assert [(item.name, item.value, item.sensitive) for item in result.outputs] == [
        ("direct", VALUES, False),
        ("echo", VALUES, False),
    ]


@pytest.mark.slow
def test_an_input_the_stack_declares_no_variable_for_is_a_clear_error(
    lab: Lab, engine: TerraformEngine
) -> None:
    checkout = lab.checkout({"stacks/app/main.tf": VAULT})
    ctx = lab.ctx(
        stack("app"),
        checkout,
        inputs=inputs_of(given("password", CANARY, sensitive=True), given("db_host", "db.internal")),
    )

    with pytest.raises(EngineError, match=r'input db_host: stack \'app\' declares no variable "db_host"'):
        engine.plan(ctx)
    assert not list((lab.data / "state" / "app" / "plans").glob("*.tfplan"))  # no plan left to apply


@pytest.mark.slow
def test_a_sensitive_input_needs_a_sensitive_variable(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(
        {
            "stacks/app/main.tf": 'variable "token" { type = string }\nresource "terraform_data" "x" { input = var.token }\n'
        }
    )
    ctx = lab.ctx(stack("app"), checkout, inputs=inputs_of(given("token", CANARY, sensitive=True)))

    with pytest.raises(EngineError) as caught:
        engine.plan(ctx)

    message = str(caught.value)
    assert message == (
        "input token: up.token is sensitive, but stack 'app' does not declare variable \"token\" "
        "sensitive; add `sensitive = true` to it"
    )
    # Terraform showed the value in its plan text; the run's redactor masked it.
    assert lab.lines
    assert all(CANARY not in line for line in lab.lines)
    assert not list((lab.data / "state" / "app" / "plans").glob("*.tfplan"))


@pytest.mark.slow
def test_a_sensitive_canary_input_and_output_appear_nowhere(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"stacks/vault/main.tf": VAULT, "stacks/copier/main.tf": COPIER})
    vault, copier = stack("vault"), stack("copier", depends_on=["vault"])
    secret = inputs_of(given("password", CANARY, sensitive=True))
    shown: list[str] = []

    plan = engine.plan(lab.ctx(vault, checkout, inputs=secret))
    output_change = next(item for item in plan.changes if item.address == "output.password")
    assert output_change.after == redaction.SENSITIVE_MARKER
    assert plan.to_dict()["inputs"][0]["value"] == core_outputs.MASK
    planned = core_outputs.outputs_by_name(plan.planned_outputs)
    assert planned["password"].sensitive and planned["password"].value == CANARY  # in memory only
    assert not planned["plain"].sensitive
    shown += [json.dumps(plan.to_dict()), repr(plan), plan.output]

    result = engine.apply(lab.ctx(vault, checkout, inputs=secret), plan)
    assert result.ok, result.error
    assert [(item.name, item.sensitive) for item in result.outputs] == [("password", True), ("plain", False)]
    assert result.outputs[0].value == CANARY  # read back, in memory only
    shown += [repr(result), result.output, result.error, json.dumps([o.to_dict() for o in result.outputs])]

    # A dependent copying the value through remote state, where Terraform forgets it is
    # sensitive: its output is still reported sensitive, planned and applied.
    copy_plan = engine.plan(lab.ctx(copier, checkout))
    assert [(o.name, o.sensitive) for o in copy_plan.planned_outputs] == [("copied", True)]
    copy_result = engine.apply(lab.ctx(copier, checkout), copy_plan)
    assert copy_result.ok, copy_result.error
    assert [(o.name, o.value, o.sensitive) for o in copy_result.outputs] == [("copied", CANARY, True)]
    shown += [json.dumps(copy_plan.to_dict()), repr(copy_plan), copy_plan.output]
    shown += [repr(copy_result), copy_result.output, json.dumps([o.to_dict() for o in copy_result.outputs])]

    # Changing the secret: an update, masked.
    changed = inputs_of(given("password", CANARY + "-2", sensitive=True))
    again = engine.plan(lab.ctx(vault, checkout, inputs=changed))
    assert again.has_changes
    drift = engine.drift(lab.ctx(vault, checkout, inputs=secret))
    assert not drift.has_changes
    # Unchanged outputs are planned outputs too (a preview needs all of them).
    assert [(o.name, o.sensitive) for o in drift.planned_outputs] == [("password", True), ("plain", False)]
    shown += [
        json.dumps(again.to_dict()),
        repr(again),
        again.output,
        json.dumps(drift.to_dict()),
        drift.output,
    ]

    assert lab.lines
    shown += lab.lines
    for text in shown:
        assert CANARY not in text
    run_files = [path for path in (lab.data / "runs").rglob("*") if path.is_file()]
    assert run_files
    for path in run_files:
        assert CANARY not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_an_apply_with_other_inputs_refuses_the_saved_plan(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout(
        {
            "stacks/app/main.tf": 'variable "size" { type = number }\nresource "terraform_data" "x" { input = var.size }\n'
        }
    )
    spec = stack("app")
    plan = engine.plan(lab.ctx(spec, checkout, inputs=inputs_of(given("size", 1))))

    moved = engine.apply(lab.ctx(spec, checkout, inputs=inputs_of(given("size", 2))), plan)
    assert moved.status is runs.RunStatus.FAILED
    assert "the state or the inputs changed since the plan was made; plan again" in moved.error
    # Same value, another digest (the keyed digest of a sensitive value, say): stale too.
    rekeyed = engine.apply(lab.ctx(spec, checkout, inputs=inputs_of(given("size", 1, digest="other"))), plan)
    assert rekeyed.status is runs.RunStatus.FAILED

    applied = engine.apply(lab.ctx(spec, checkout, inputs=inputs_of(given("size", 1))), plan)
    assert applied.ok, applied.error
    assert applied.outputs == ()


# --------------------------------------------------------------------- no terraform run


def test_an_apply_never_runs_a_plan_waiting_for_an_input(lab: Lab, engine: TerraformEngine) -> None:
    ref = core_outputs.InputRef(name="cidr", stack="network", output="cidr")
    waiting = core_outputs.InputValue(ref=ref, known=False)
    plan = core_plans.Plan(
        stack="app",
        engine="terraform",
        revision="a" * 40,
        changes=(),
        summary=core_plans.summarize(()),
        artifact=str(lab.root / "x.tfplan"),
        inputs=(waiting,),
    )
    checkout = lab.checkout({"stacks/app/main.tf": ""})

    result = engine.apply(lab.ctx(stack("app"), checkout, inputs={"cidr": waiting}), plan)

    assert result.status is runs.RunStatus.FAILED
    assert result.error == (
        "stack 'app': refused to apply: input cidr is not known yet (known after network applies)"
    )
    assert not (lab.data / "state").exists()  # nothing ran


def test_an_input_the_stack_also_sets_in_vars_is_refused(lab: Lab, engine: TerraformEngine) -> None:
    checkout = lab.checkout({"stacks/app/main.tf": 'variable "size" {}\n'})
    ctx = lab.ctx(stack("app", vars={"size": 3}), checkout, inputs=inputs_of(given("size", 1)))

    with pytest.raises(
        EngineError, match=r'input size \(from up.size\): the stack also sets variable "size"'
    ):
        engine.plan(ctx)


def test_environment_passes_strings_as_they_are_and_the_rest_as_json() -> None:
    env = tf_inputs.environment(
        inputs_of(given("s", "plain text"), given("l", ["a", "b"]), given("m", {"y": 2.5, "x": 1})),
        stack="app",
        variables={},
        secret_env={},
    )
    assert env == {"TF_VAR_s": "plain text", "TF_VAR_l": '["a","b"]', "TF_VAR_m": '{"x":1,"y":2.5}'}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (given("big", "x" * tf_inputs.MAX_VALUE_BYTES), "cannot be passed in the environment"),
        (given("nul", "a\0b"), "contains a NUL character"),
        (given("bad=name", "x"), "is not a Terraform variable name"),
    ],
    ids=["too-large", "nul", "bad-name"],
)
def test_environment_refuses_what_it_cannot_pass(item: core_outputs.InputValue, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        tf_inputs.environment(inputs_of(item), stack="app", variables={}, secret_env={})


def test_fingerprint_follows_the_input_digests() -> None:
    base = {"revision": "r", "state": "s", "workspace": "default", "variables": {}, "var_files": []}
    without = staleness.fingerprint(**base)
    one = staleness.fingerprint(**base, inputs=tf_inputs.digests(inputs_of(given("a", 1))))
    other = staleness.fingerprint(**base, inputs=tf_inputs.digests(inputs_of(given("a", 1, digest="k2"))))
    assert len({without, one, other}) == 3
    assert staleness.fingerprint(**base, inputs=()) == without  # stacks without inputs keep theirs
    # A sensitive input without a digest gets a keyed one: not the plain SHA-256 of the value.
    keyed = tf_inputs.digests(
        {"p": core_outputs.InputValue(ref=given("p", 1).ref, value=CANARY, sensitive=True)}
    )
    assert keyed[0][1].startswith("process:") and core_outputs.digest_of(CANARY) not in keyed[0][1]


def test_planned_outputs_keep_known_values_only() -> None:
    document = {
        "output_changes": {
            "known": {"actions": ["no-op"], "after": "k", "after_unknown": False, "after_sensitive": False},
            "partial": {"actions": ["create"], "after": {"a": "x"}, "after_unknown": {"id": True}},
            "gone": {"actions": ["delete"], "before": "old", "after": None, "after_unknown": False},
            "nested_secret": {"actions": ["create"], "after": {"a": "s"}, "after_sensitive": {"a": True}},
            "declared_secret": {"actions": ["update"], "after": "s", "after_sensitive": False},
        },
        "configuration": {"root_module": {"outputs": {"declared_secret": {"sensitive": True}}}},
    }
    assert [(o.name, o.value, o.sensitive) for o in tf_outputs.planned(document)] == [
        ("declared_secret", "s", True),
        ("known", "k", False),
        ("nested_secret", {"a": "s"}, True),
    ]


def test_guarded_marks_outputs_holding_a_known_secret_sensitive() -> None:
    found = tf_outputs.read_outputs(
        {
            "url": {"value": "https://user:pw@db.example", "type": "string"},
            "nested": {"value": {"k": [f'say "{CANARY}"']}, "type": "object"},
            "fine": {"value": ["10.0.0.0/16"], "type": "list"},
            "marked": {"value": "x", "sensitive": True},
            "broken": "not an output",
        }
    )
    guarded = tf_outputs.guarded(found, redaction.Redactor([CANARY]))
    assert [(o.name, o.sensitive) for o in guarded] == [
        ("fine", False),
        ("marked", True),
        ("nested", True),
        ("url", True),
    ]


def test_outputs_from_a_state_file(tmp_path: Path) -> None:
    state = {"outputs": {"b": {"value": 1, "type": "number"}, "a": {"value": CANARY, "sensitive": True}}}
    (tmp_path / "s.json").write_text(json.dumps(state))
    found = tf_outputs.read_outputs(json.loads((tmp_path / "s.json").read_text())["outputs"])
    assert [(o.name, o.value, o.sensitive) for o in found] == [("a", CANARY, True), ("b", 1, False)]
    assert CANARY in tf_outputs.secrets_of(found)
    assert CANARY not in repr(found)
