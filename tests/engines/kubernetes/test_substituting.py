"""Flux-style substitution of a stack's inputs, case by case from ``tests/data/kubernetes/substitute``.

Each file holds the inputs (value, and optionally ``sensitive``, ``known``, ``stack``),
one object as rendered, and either the object expected after substitution or a piece
of the expected error (with texts it must never contain: sensitive values).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.engines.kubernetes.conftest import DATA
from truenorth.core import outputs
from truenorth.engines.kubernetes import objects, substituting


def _cases() -> list[Any]:
    paths = sorted((DATA / "substitute").glob("*.yaml"))
    return [pytest.param(yaml.safe_load(path.read_text()), id=path.stem) for path in paths]


def _inputs(declared: dict[str, dict[str, Any]]) -> dict[str, outputs.InputValue]:
    return {
        name: outputs.InputValue(
            ref=outputs.InputRef(name=name, stack=entry.get("stack", "upstream"), output=name),
            value=entry.get("value"),
            sensitive=entry.get("sensitive", False),
            known=entry.get("known", True),
        )
        for name, entry in declared.items()
    }


@pytest.mark.parametrize("case", _cases())
def test_substitution(case: dict[str, Any]) -> None:
    obj = copy.deepcopy(case["object"])
    label = objects.ObjectRef.of(obj).address
    substitution = substituting.Substitution(_inputs(case["inputs"]))
    if "error" in case:
        with pytest.raises(substituting.SubstitutionError) as caught:
            substitution.apply(obj, label=label)
        message = str(caught.value)
        assert case["error"] in message, message
        for secret in case.get("error_excludes", []):
            assert secret not in message
        return
    substitution.apply(obj, label=label)
    assert obj == case["expect"]


def test_every_case_file_says_what_it_checks() -> None:
    cases = _cases()
    assert len(cases) >= 15
    for param in cases:
        (case,) = param.values
        assert case.get("description") and ("expect" in case) != ("error" in case), param.id


def test_what_substitution_adds_is_bounded() -> None:
    big = outputs.InputValue(ref=outputs.InputRef("big", "up", "big"), value="x" * 1000)
    substitution = substituting.Substitution({"big": big}, max_chars=10_000)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": "${big}" * 9}}
    substitution.apply(obj, label="core/ConfigMap/_cluster/a")
    assert obj["data"]["a"] == "x" * 9000
    again = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"a": "${big}" * 2}}
    with pytest.raises(substituting.SubstitutionError, match="more than 10000 characters"):
        substitution.apply(again, label="core/ConfigMap/_cluster/b")


def test_deeply_nested_objects_do_not_exhaust_the_stack() -> None:
    value = outputs.InputValue(ref=outputs.InputRef("v", "up", "v"), value="deep")
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    inner: dict[str, Any] = obj
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    inner["leaf"] = "${v}"
    substituting.Substitution({"v": value}).apply(obj, label="a")
    assert inner["leaf"] == "deep"


def test_an_error_deep_inside_names_the_whole_path() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"value": "${nope}"}]}]}}},
    }
    with pytest.raises(substituting.SubstitutionError) as caught:
        substituting.Substitution({}).apply(obj, label="apps/Deployment/team-a/web")
    assert str(caught.value).startswith(
        "apps/Deployment/team-a/web: spec.template.spec.containers[0].env[0].value: ${nope} has no value"
    )


def test_scanning_is_linear_on_hostile_text() -> None:
    """See also tests/security/test_linear_time.py (1 MiB cases under a timeout)."""
    text = "$x" * 50_000 + "${" + "a" * 100_000
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": text}}
    with pytest.raises(substituting.SubstitutionError, match="not a supported reference"):
        substituting.Substitution({}).apply(obj, label="a")


def test_is_disabled_reads_flux_label_and_annotation() -> None:
    key = substituting.DISABLE_KEY
    assert substituting.is_disabled({"metadata": {"annotations": {key: "disabled"}}})
    assert substituting.is_disabled({"metadata": {"labels": {key: "disabled"}}})
    assert not substituting.is_disabled({"metadata": {"annotations": {key: "enabled"}}})
    assert not substituting.is_disabled({"metadata": None})
