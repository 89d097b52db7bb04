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
