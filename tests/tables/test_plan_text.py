"""Snapshots of each engine's plan as ``truenorth plan`` prints it (:func:`tables.print_plan`).

The plans are built by the engines' own pure readers from recorded engine output in
``tests/data`` (``terraform show -json``, Ansible job events, Kubernetes objects), as the
engines build them, with a fixed revision; nothing runs. Each snapshot is the text a
terminal 100 columns wide shows (see :mod:`tests.support.snapshots`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import snapshots
from truenorth.cli import tables
from truenorth.core import plans, redaction, specs
from truenorth.engines.ansible import checks, events
from truenorth.engines.kubernetes import client, inventory, objects, planning, targets
from truenorth.engines.terraform import plans as terraform_plans

DATA = Path(__file__).resolve().parents[1] / "data"
REVISION = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"


def terraform_plan(name: str) -> plans.Plan:
    """``tests/data/terraform/<name>.json`` read and redacted as the Terraform engine does."""
    document = json.loads((DATA / "terraform" / f"{name}.json").read_text())
    reading = terraform_plans.read_plan(document)
    redactor = redaction.Redactor(reading.secrets)
    changes = tuple(terraform_plans.redact_change(item, redactor) for item in reading.changes)
    return plans.Plan(
        stack="network",
        engine="terraform",
        revision=REVISION,
        changes=changes,
        summary=plans.summarize(changes),
    )


def ansible_plan() -> plans.Plan:
    """The recorded check-mode run ``tests/data/ansible/check_semantics`` as the Ansible engine reads it."""
    folder = DATA / "ansible" / "check_semantics"
    recorded = _json_lines(folder / "job_events.jsonl")
    notes = [note for note in map(events.parse_note, _json_lines(folder / "notes.jsonl")) if note]
    recap = events.find_recap(recorded)
    assert recap is not None
    report = checks.read_check(
        events.task_outcomes(recorded), notes, hosts=recap.hosts, redactor=redaction.Redactor()
    )
    return plans.Plan(
        stack="hosts",
        engine="ansible",
        revision=REVISION,
        changes=report.changes,
        summary=plans.summarize(report.changes, hosts_unreachable=report.unreachable_hosts),
        unreachable_hosts=report.unreachable_hosts,
        meta={
            "failures": list(report.failures),
            "unreachable": list(report.unreachable),
            plans.PARTIAL: report.partial,
        },
    )


#: Kubernetes objects from ``tests/data/kubernetes/diff``: desired (with live) and pruned.
KUBERNETES_CASES = ("create", "replicas-changed", "secret-changed", "service-defaults")
KUBERNETES_PRUNED = "delete"


def kubernetes_plan() -> plans.Plan:
    """A plan over the diff fixtures: a create, two updates (one a Secret), a no-op, a prune."""
    cases = [_yaml(DATA / "kubernetes" / "diff" / f"{name}.yaml") for name in KUBERNETES_CASES]
    prepared = [_target(case["desired"]) for case in cases]
    pruned = _yaml(DATA / "kubernetes" / "diff" / f"{KUBERNETES_PRUNED}.yaml")["live"]
    observation = planning.Observation(
        targets=tuple(prepared),
        live={target.ref: case["live"] for target, case in zip(prepared, cases, strict=True)},
        predicted={
            target.ref: case["predicted"]
            for target, case in zip(prepared, cases, strict=True)
            if case.get("predicted")
        },
        prune=(pruned,),
        disowned=(),
        gone=(),
        inventory=inventory.Inventory.of("web", [objects.ObjectRef.of(pruned)]),
    )
    spec = specs.parse_spec("stacks:\n  - {name: web, engine: kubernetes, path: k8s/web}\n")
    return planning.build_plan(
        observation, stack=spec.stacks[0], revision=REVISION, plan_fingerprint="f" * 32
    )


@pytest.mark.parametrize("name", ["plan-create", "plan-changes", "plan-noop"])
def test_terraform_plans_as_printed(name: str) -> None:
    plan = terraform_plan(name)
    snapshots.check(f"terraform-{name}", snapshots.printed(lambda console: tables.print_plan(console, plan)))


def test_an_ansible_check_run_as_printed() -> None:
    plan = ansible_plan()
    snapshots.check("ansible-plan-check", snapshots.printed(lambda console: tables.print_plan(console, plan)))


def test_failed_and_unreachable_ansible_hosts_are_named_with_their_reason() -> None:
    """The recorded run where one host fails and one is unreachable, read as a plan: the
    plan says it is partial and names both hosts, the task and Ansible's reason."""
    recorded = _json_lines(DATA / "ansible" / "apply_partial" / "job_events.jsonl")
    report = checks.read_check(events.task_outcomes(recorded), [], redactor=redaction.Redactor())
    plan = plans.Plan(
        stack="hosts",
        engine="ansible",
        revision=REVISION,
        changes=report.changes,
        summary=plans.summarize(report.changes, hosts_unreachable=report.unreachable_hosts),
        unreachable_hosts=report.unreachable_hosts,
        meta={
            "failures": list(report.failures),
            "unreachable": list(report.unreachable),
            plans.PARTIAL: True,
        },
    )
    printed = snapshots.printed(lambda console: tables.print_plan(console, plan))
    snapshots.check("ansible-plan-partial", printed)
    assert "Plan is partial" in printed
    assert "! gone: unreachable at task 'config file': " in printed


def test_a_kubernetes_plan_as_printed() -> None:
    plan = kubernetes_plan()
    snapshots.check("kubernetes-plan", snapshots.printed(lambda console: tables.print_plan(console, plan)))


def test_the_kubernetes_engines_own_plan_text() -> None:
    """The text the Kubernetes engine records as the plan's output (its run log shows it)."""
    snapshots.check("kubernetes-plan-output", kubernetes_plan().output)


def test_the_closing_line_over_every_engines_plans() -> None:
    planned = [terraform_plan("plan-changes"), terraform_plan("plan-noop"), ansible_plan(), kubernetes_plan()]
    snapshots.check(
        "plan-totals",
        snapshots.printed(lambda console: tables.print_totals(console, planned, failed=1)),
    )


def _target(manifest: dict[str, Any]) -> targets.Target:
    ref = objects.ObjectRef.of(manifest)
    plural = ref.kind.lower() + "s"
    rtype = client.ResourceType(
        group=ref.group, version=ref.version, kind=ref.kind, plural=plural, namespaced=True
    )
    return targets.Target(ref=ref, manifest=manifest, rtype=rtype)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- issue #15


def test_terraforms_own_text_is_printed_as_terraform_show_prints_it() -> None:
    """A plan whose output is Terraform's rendering (``meta["native_text"]``) prints that
    text, from the real ``terraform plan`` output of ``plan-nested`` (progress lines
    dropped): it equals ``terraform show PLANFILE`` line for line, under the stack."""
    from truenorth.engines.terraform import renderings

    stdout = (DATA / "terraform" / "plan-nested.stdout.txt").read_text()
    shown = (DATA / "terraform" / "plan-nested.show.txt").read_text()
    plan = terraform_plan("plan-nested")
    native = plans.Plan(
        **{**_fields(plan), "output": renderings.native_text(stdout), "meta": {renderings.NATIVE_TEXT: True}}
    )
    printed = snapshots.printed(lambda console: tables.print_plan(console, native))
    assert [line.removeprefix("  ") for line in printed.splitlines()] == [
        line.rstrip() for line in shown.strip("\n").splitlines()
    ]
    snapshots.check("terraform-plan-native", printed)


def test_structured_terraform_changes_read_like_terraform() -> None:
    """Without Terraform's text (a stored plan), the changes print per key, nested values
    on many lines: a new map key is ``+``, an element deep in a long list is shown, the
    replaced gateway, unknown values and every output with its value."""
    plan = terraform_plan("plan-nested")
    printed = snapshots.printed(lambda console: tables.print_plan(console, plan))
    assert '+ team = "infra"' in printed and "null" not in printed
    assert '~ "zone-9" -> "zone-nine",' in printed
    assert "# (14 unchanged elements hidden)" in printed
    assert '~ region = "eu-1" -> "eu-2"' in printed
    assert "+ fresh_id = (known after apply)" in printed
    assert "~ password = (sensitive value)" in printed and "canary" not in printed
    snapshots.check("terraform-plan-nested", printed)


def test_a_cut_terraform_text_is_not_printed() -> None:
    """An output the limit cut is not marked native: the structured changes print."""
    plan = terraform_plan("plan-nested")
    cut = plans.Plan(**{**_fields(plan), "output": "Terraform will perform...", "meta": {}})
    printed = snapshots.printed(lambda console: tables.print_plan(console, cut))
    assert "Terraform will perform" not in printed and "# terraform_data.tags" in printed


def _fields(plan: plans.Plan) -> dict[str, Any]:
    import dataclasses

    return {item.name: getattr(plan, item.name) for item in dataclasses.fields(plan)}
