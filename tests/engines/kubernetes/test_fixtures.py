"""Pure, data-driven tests: every YAML fixture under ``tests/data/kubernetes`` is one case.

``health/*.yaml`` hold lists of live objects with their expected status, ``diff/``,
``normalize/`` and ``ordering/`` one case per file, ``render/<case>/`` a checkout
and a ``case.yaml`` with the expected objects or error.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engines.kubernetes.conftest import DATA
from truenorth.core import plans, redaction, specs
from truenorth.engines import protocol
from truenorth.engines.kubernetes import KubernetesEngine, diffing, health, normalizing, objects, ordering


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _health_cases() -> list[Any]:
    cases = []
    for path in sorted((DATA / "health").glob("*.yaml")):
        for case in _load(path):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


def _files(folder: str) -> list[Any]:
    return [pytest.param(_load(path), id=path.stem) for path in sorted((DATA / folder).glob("*.yaml"))]


@pytest.mark.parametrize("case", _health_cases())
def test_health(case: dict[str, Any]) -> None:
    result = health.assess(case["object"])
    assert result.status.value == case["expect"], result
    if "message" in case:
        assert case["message"] in result.message


def test_health_rolls_up_to_the_worst() -> None:
    statuses = [health.HealthStatus.HEALTHY, health.HealthStatus.SUSPENDED, health.HealthStatus.PROGRESSING]
    assert health.worst(statuses) is health.HealthStatus.PROGRESSING
    assert health.worst([*statuses, health.HealthStatus.MISSING]) is health.HealthStatus.MISSING
    assert (
        health.worst([health.HealthStatus.MISSING, health.HealthStatus.DEGRADED])
        is health.HealthStatus.DEGRADED
    )
    assert (
        health.worst([health.HealthStatus.DEGRADED, health.HealthStatus.UNKNOWN])
        is health.HealthStatus.UNKNOWN
    )
    assert health.worst([]) is health.HealthStatus.HEALTHY
    assert [s.value for s in sorted(health.HealthStatus, key=lambda s: s.rank)] == [
        "Healthy",
        "Suspended",
        "Progressing",
        "Missing",
        "Degraded",
        "Unknown",
    ]


@pytest.mark.parametrize("case", _files("diff"))
def test_diff(case: dict[str, Any]) -> None:
    ignore = (
        specs.parse_spec(
            yaml.safe_dump(
                {
                    "stacks": [
                        {
                            "name": "s",
                            "engine": "kubernetes",
                            "path": "s",
                            "ignore_differences": case.get("ignore", []),
                        }
                    ]
                }
            )
        )
        .stacks[0]
        .kubernetes.ignore_differences
    )
    result = diffing.compare(case["desired"], case["live"], predicted=case.get("predicted"), ignore=ignore)
    expect = case["expect"]
    assert result.action is plans.Action(expect["action"]), result.diff
    for text in expect.get("diff_contains", []):
        assert text in result.diff, result.diff
    for text in expect.get("diff_excludes", []):
        assert text not in result.diff, result.diff
    if result.action is plans.Action.NOOP:
        assert result.diff == ""
    shown = json.dumps([result.before, result.after]) + result.diff
    for secret in expect.get("not_anywhere", []):
        assert secret not in shown


@pytest.mark.parametrize("case", _files("normalize"))
def test_normalize(case: dict[str, Any]) -> None:
    assert normalizing.normalize(case["input"]) == case["expect"]


@pytest.mark.parametrize("case", _files("ordering"))
def test_ordering(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(objects.ManifestError, match=case["error"]):
            ordering.apply_steps(case["objects"])
        return
    if "steps" in case:
        steps = ordering.apply_steps(case["objects"])
        assert [[objects.ObjectRef.of(o).address for o in step.objects] for step in steps] == case["steps"]
        assert [step.wave for step in steps] == case["waves"]
    if "prune" in case:
        assert [objects.ObjectRef.of(o).address for o in ordering.prune_order(case["objects"])] == case[
            "prune"
        ]


def _render_cases() -> list[Any]:
    return [pytest.param(path, id=path.name) for path in sorted((DATA / "render").iterdir()) if path.is_dir()]


def _ctx(
    checkout: Path, tmp_path: Path, *, path: str, namespace: str | None = None, hosts: list[str] | None = None
) -> protocol.StackContext:
    stack = specs.StackSpec(
        name="fixture", engine="kubernetes", path=path, options=specs.KubernetesOptions(namespace=namespace)
    )
    return protocol.StackContext(
        stack=stack,
        checkout=checkout,
        revision="0" * 40,
        run_dir=tmp_path / "run",
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
        settings={"allowed_remote_hosts": ",".join(hosts or [])},
        redactor=redaction.Redactor(),
    )


@pytest.mark.parametrize("folder", _render_cases())
def test_render(folder: Path, tmp_path: Path) -> None:
    case = _load(folder / "case.yaml")
    ctx = _ctx(
        folder / "repo",
        tmp_path,
        path=case["path"],
        namespace=case.get("namespace"),
        hosts=case.get("allowed_hosts"),
    )
    if "error" in case:
        with pytest.raises(protocol.EngineError) as caught:
            KubernetesEngine().render(ctx)
        assert case["error"] in str(caught.value)
        for text in case.get("error_excludes", []):
            assert text not in str(caught.value)
        return
    rendered = KubernetesEngine().render(ctx)
    assert sorted(objects.ObjectRef.of(obj, generated=True).address for obj in rendered) == sorted(
        case["expect"]
    )
    if case.get("expect_kustomize"):
        out = subprocess.run(
            ["kubectl", "kustomize", str(folder / "repo" / case["path"])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert rendered == list(yaml.safe_load_all(out))
