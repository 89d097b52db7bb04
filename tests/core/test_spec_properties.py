"""Property tests: the spec loader and durations raise nothing but their documented errors.

Whoever can push writes ``truenorth.yaml``; every input, however odd, must end as a
:class:`~truenorth.core.specs.SpecError` (or a spec), never as a crash of the loop that
reads it. Hypothesis generates text, YAML-shaped data and numbers; ``deadline=None``
because a busy CI machine must not turn a slow example into a failure.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truenorth.core import durations, specfields, specs

SETTINGS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["terraform", "ansible", "kubernetes", "10m", "0s", "-1s", "../x", "a", "b", "c"]),
)
#: Every key the spec knows (so that generated stacks often get far into the checks).
KNOWN_KEYS = sorted(
    {f.key for f in specfields.COMMON_FIELDS}
    | {f.key for fields in specfields.ENGINE_FIELDS.values() for f in fields}
    | {"json_pointers", "kind", "version", "stacks"}
)
keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.text(max_size=10),
    st.integers(min_value=-5, max_value=5),
    st.booleans(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=20,
)
stack_like = st.dictionaries(keys, values, max_size=8)
documents = st.one_of(
    values,
    st.fixed_dictionaries({"stacks": st.lists(stack_like, max_size=6)}),
    st.fixed_dictionaries({"version": values, "stacks": st.lists(stack_like, max_size=6)}),
)


def _parse(text: str) -> specs.RepoSpec | None:
    try:
        spec = specs.parse_spec(text)
    except specs.SpecError as exc:
        assert exc.issues and all(isinstance(issue, specs.SpecIssue) for issue in exc.issues)
        return None
    assert sorted(stack.name for stack in spec.order()) == sorted(spec.names)  # a valid spec always orders
    return spec


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_is_a_spec_or_a_spec_error(text: str) -> None:
    _parse(text)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_yaml_document_is_a_spec_or_a_spec_error(document: Any) -> None:
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except (yaml.YAMLError, ValueError):  # not representable as YAML (an odd float, say)
        return
    _parse(text)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=7), st.lists(st.integers(min_value=0, max_value=9))),
        min_size=1,
        max_size=8,
    )
)
def test_any_dependency_graph_is_ordered_or_a_cycle_is_named(entries: list[tuple[int, list[int]]]) -> None:
    lines = ["stacks:"]
    for name, deps in entries:
        lines.append(
            f"  - {{name: s{name}, engine: terraform, path: p{name}, depends_on: {[f's{d}' for d in deps]}}}"
        )
    spec = _parse("\n".join(lines).replace("'", "") + "\n")
    if spec is not None:
        seen: set[str] = set()
        for stack in spec.order():
            assert set(stack.depends_on) <= seen
            seen.add(stack.name)


@SETTINGS
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\A(?:[0-9]{1,12}(?:ms|s|m|h|d|y)?){1,4}\Z"),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
        st.lists(st.text(max_size=3), max_size=2),
    )
)
def test_parse_duration_returns_bounded_seconds_or_a_duration_error(value: object) -> None:
    try:
        seconds = durations.parse_duration(value)
    except durations.DurationError:
        return
    assert 0 < seconds <= durations.MAX_SECONDS


@SETTINGS
@given(st.one_of(st.floats(), st.integers(min_value=-(10**30), max_value=10**400), st.booleans(), st.text()))
def test_format_duration_renders_or_raises_a_duration_error(value: Any) -> None:
    try:
        text = durations.format_duration(value)
    except durations.DurationError:
        assert (
            isinstance(value, bool | str)
            or value < 0
            or (isinstance(value, float) and not math.isfinite(value))
        )
        return
    assert text and text.isascii()


@SETTINGS
@given(st.integers(min_value=1, max_value=durations.MAX_SECONDS * 1000))
def test_formatted_durations_parse_back(millis: int) -> None:
    seconds = millis / 1000
    assert round(durations.parse_duration(durations.format_duration(seconds)) * 1000) == millis


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -1, -0.5, "10m", None, True])
def test_non_numbers_and_non_finite_or_negative_seconds_are_duration_errors(value: Any) -> None:
    with pytest.raises(durations.DurationError):
        durations.format_duration(value)
