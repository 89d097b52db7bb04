"""The work of comparing one object: normalized once per object, no deepcopy, no Fraction.

A plan of a large stack compares thousands of objects; these tests count what one
comparison does rather than time it. Canonical quantities are checked against an exact
rational reference (what the implementation did with ``fractions.Fraction`` before).
"""

from __future__ import annotations

import copy
import fractions
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truenorth.engines.kubernetes import diffing, fieldsets, normalizing, objects

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "app:2",
                        "resources": {"requests": {"cpu": "0.25", "memory": "1024Mi"}},
                    }
                ]
            }
        },
    },
}


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    live: dict[str, Any] = json.loads(json.dumps(desired))
    live["metadata"].update(
        uid="u-1",
        resourceVersion="7",
        managedFields=[
            {
                "manager": objects.FIELD_MANAGER,
                "operation": "Apply",
                "fieldsV1": fieldsets.fields_of(normalizing.normalize(desired)),
            }
        ],
    )
    container = live["spec"]["template"]["spec"]["containers"][0]
    container.update(image="app:1", imagePullPolicy="IfNotPresent")
    container["resources"]["requests"] = {"cpu": "250m", "memory": "1Gi"}
    live["status"] = {"replicas": 2}
    return live


@pytest.fixture
def normalized(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The kinds of object ``normalize`` was called on, in order; deepcopy and Fraction refused."""
    calls: list[str] = []
    real = normalizing.normalize

    def counting(obj: Any) -> dict[str, Any]:
        calls.append(str(obj.get("metadata", {}).get("resourceVersion", "desired")))
        return real(obj)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not in the hot path")

    monkeypatch.setattr(normalizing, "normalize", counting)
    monkeypatch.setattr(copy, "deepcopy", refused)
    monkeypatch.setattr(fractions.Fraction, "__new__", refused)
    yield calls


def test_an_update_normalizes_each_object_once(normalized: list[str]) -> None:
    live = live_of(DESIRED)
    predicted = {**live, "spec": DESIRED["spec"]}
    normalized.clear()
    result = diffing.compare(DESIRED, live, predicted=predicted)
    assert result.action.value == "update" and "app:2" in result.diff
    assert "cpu" not in result.diff and "memory" not in result.diff  # 0.25 is 250m, 1024Mi is 1Gi
    assert sorted(normalized) == ["7", "7", "desired"]  # desired, predicted, live: once each

    normalized.clear()
    assert diffing.compare(DESIRED, live).action.value == "update"
    assert sorted(normalized) == ["7", "desired"]  # the desired object serves as predicted too


def test_ignored_differences_never_change_the_desired_object(normalized: list[str]) -> None:
    live = live_of(DESIRED)
    rules = [_ignore("/spec/template/spec/containers/0/image")]
    assert diffing.compare(DESIRED, live, ignore=rules).action.value == "no-op"
    assert DESIRED["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"


def _ignore(pointer: str) -> Any:
    from truenorth.core import specs

    return specs.IgnoreDifference(kind="Deployment", json_pointers=(pointer,))


def test_normalize_shares_nothing_with_its_object() -> None:
    source = live_of(DESIRED)
    before = copy.deepcopy(source)
    out = normalizing.normalize(source)
    out["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    out["metadata"]["labels"]["app"] = "changed"
    assert source == before
    assert "managedFields" not in out["metadata"] and "status" not in out


def _reference(value: str) -> str | None:
    """Kubernetes' canonical quantity, computed exactly with rationals (the former implementation)."""
    match = normalizing._QUANTITY.match(value)
    if match is None:
        return None
    number, exponent, suffix = match.group(1), match.group(2), match.group(3) or ""
    if exponent and abs(int(exponent[1:])) > normalizing._MAX_EXPONENT:
        return None
    amount = fractions.Fraction(number)
    if exponent:
        amount *= fractions.Fraction(10) ** int(exponent[1:])
    elif suffix in normalizing._BINARY:
        amount *= 1024 ** normalizing._BINARY[suffix]
    else:
        amount *= fractions.Fraction(10) ** normalizing._DECIMAL[suffix]
    if amount == 0:
        return "0"
    if suffix in normalizing._BINARY and amount.denominator == 1:
        for name, power in sorted(normalizing._BINARY.items(), key=lambda item: -item[1]):
            if (amount / 1024**power).denominator == 1:
                return f"{amount.numerator // 1024**power}{name}"
        return str(amount.numerator)
    for name, power in sorted(normalizing._DECIMAL.items(), key=lambda item: -item[1]):
        scaled = amount / fractions.Fraction(10) ** power
        if scaled.denominator == 1:
            return f"{scaled.numerator}{name}"
    return f"{-((-amount * 10**9) // 1)}n"


_SUFFIXES = ["", *normalizing._BINARY, *(name for name in normalizing._DECIMAL if name)]


@given(
    sign=st.sampled_from(["", "-", "+"]),
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.one_of(st.none(), st.from_regex(r"[0-9]{0,8}", fullmatch=True)),
    tail=st.one_of(st.sampled_from(_SUFFIXES), st.from_regex(r"[eE][+-]?[0-9]{1,2}", fullmatch=True)),
)
def test_quantities_are_canonical_as_with_exact_rationals(
    sign: str, whole: int, fraction: str | None, tail: str
) -> None:
    text = f"{sign}{whole}" + (f".{fraction}" if fraction is not None else "") + tail
    assert normalizing.canonical_quantity(text) == _reference(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", "500m"), ("1024Mi", "1Gi"), ("0.1Ki", "102400m"), ("1e3", "1k"), ("1e-10", "1n"), (0.5, "500m")],
)
def test_known_quantities(value: object, expected: str) -> None:
    assert normalizing.canonical_quantity(value) == expected
