"""Field paths (``.status.loadBalancer.ingress[0].ip``): parsing, rendering, extracting.

A Kubernetes stack's ``outputs:`` name these paths in ``truenorth.yaml`` (untrusted): every
input must end as steps or a :class:`~truenorth.core.fieldpaths.FieldPathError` with a
column, never a crash, and :func:`~truenorth.core.fieldpaths.extract` says which step was
missing and where.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truenorth.core import fieldpaths

SETTINGS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        (".status.loadBalancer.ingress[0].ip", ("status", "loadBalancer", "ingress", 0, "ip")),
        ('.data["tls.crt"]', ("data", "tls.crt")),
        (".metadata.annotations['example.com/owner']", ("metadata", "annotations", "example.com/owner")),
        (".spec.ports[1].port", ("spec", "ports", 1, "port")),
        ("[0][12]", (0, 12)),
        ('.a["say \\"hi\\""]', ("a", 'say "hi"')),
        (".a['back\\\\slash']", ("a", "back\\slash")),
        ('.a[""]', ("a", "")),
        (".x-y_z9", ("x-y_z9",)),
    ],
)
def test_paths_parse_into_steps(text: str, steps: tuple[Any, ...]) -> None:
    assert fieldpaths.parse(text) == steps
    assert fieldpaths.parse(fieldpaths.render(steps)) == steps


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "must not be empty", None),
        (".", "a field name must follow '.'", 2),
        ("status", "expected '.' or '[' but found 's'", 1),
        (".a.", "a field name must follow '.'", 4),
        (".a..b", "found '.'", 4),
        (".a b", "expected '.' or '[' but found ' '", 3),
        (".a[", "'[' is not closed", 3),
        (".a[1", "a list index must be followed by ']'", 5),
        (".a[1x]", "a list index must be followed by ']'", 5),
        (".a[-1]", "must not be negative", 4),
        (".a[1234567890]", "at most 9 digits", 4),
        (".a[x]", "expected a list index or a quoted name", 4),
        ('.a["x', 'the quoted name opened with " is not closed', 4),
        (".a['x\"]", "the quoted name opened with ' is not closed", 4),
        ('.a["x"', "a quoted name must be followed by ']'", 7),
        ('.a["x\\n"]', "a backslash may only escape", 6),
        (".a" * 65, "at most 64 steps", 129),
        ("." + "a" * 600, "at most 512 characters, this one has 601", None),
    ],
)
def test_bad_paths_say_what_and_where(text: str, message: str, column: int | None) -> None:
    with pytest.raises(fieldpaths.FieldPathError) as caught:
        fieldpaths.parse(text)
    assert message in str(caught.value)
    assert caught.value.column == column
    if column is not None:
        assert str(caught.value).endswith(f"(column {column})")


def test_a_path_that_is_not_a_string_is_an_error() -> None:
    with pytest.raises(fieldpaths.FieldPathError, match="must be a string"):
        fieldpaths.parse(None)  # type: ignore[arg-type]


SERVICE = {
    "metadata": {"name": "web", "annotations": {"a/b": "c"}},
    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}},
    "data": {"tls.crt": "Q0VSVA=="},
    "spec": {"ports": [{"port": 80}, {"port": 443}], "flag": False, "none": None},
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (".status.loadBalancer.ingress[0].ip", "203.0.113.7"),
        ('.data["tls.crt"]', "Q0VSVA=="),
        (".metadata.annotations['a/b']", "c"),
        (".spec.ports[1].port", 443),
        (".spec.ports[0]", {"port": 80}),
        (".spec.flag", False),
        (".spec.none", None),
    ],
)
def test_extract_reads_the_value(text: str, value: Any) -> None:
    assert fieldpaths.extract(SERVICE, fieldpaths.parse(text)) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ".status.loadBalancer.ingress[0].hostname",
            "no field 'hostname' at .status.loadBalancer.ingress[0]",
        ),
        (
            ".status.loadBalancer.ingress[1].ip",
            "no item [1] at .status.loadBalancer.ingress (the list has 1 items)",
        ),
        (".nothing", "no field 'nothing' at the top"),
        (".metadata.name.first", "no object at .metadata.name (it is a string), so no field 'first'"),
        (".metadata[0]", "no list at .metadata (it is an object), so no item [0]"),
        (".spec.none.x", "no object at .spec.none (it is null), so no field 'x'"),
        ('.data["tls.key"]', "no field 'tls.key' at .data"),
    ],
)
def test_extract_says_which_step_is_missing(text: str, message: str) -> None:
    with pytest.raises(fieldpaths.FieldPathError) as caught:
        fieldpaths.extract(SERVICE, fieldpaths.parse(text))
    assert str(caught.value) == message
    assert "203.0.113.7" not in str(caught.value)  # an error names the path, never a value


steps = st.lists(st.one_of(st.text(max_size=12), st.integers(min_value=0, max_value=10**9 - 1)), max_size=20)


@SETTINGS
@given(steps)
def test_render_and_parse_round_trip(items: list[Any]) -> None:
    text = fieldpaths.render(items)
    if not items:
        return
    if len(text) <= fieldpaths.MAX_LENGTH:
        assert fieldpaths.parse(text) == tuple(items)


alphabet = st.sampled_from([*".[]'\"\\0123456789-_aZ./ \n", "ingress", "tls.crt"])


@SETTINGS
@given(st.one_of(st.text(max_size=80), st.lists(alphabet, max_size=60).map("".join)))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parsed = fieldpaths.parse(text)
    except fieldpaths.FieldPathError as exc:
        assert exc.column is None or 1 <= exc.column <= len(text) + 1
        return
    assert 1 <= len(parsed) <= fieldpaths.MAX_STEPS
    assert fieldpaths.parse(fieldpaths.render(parsed)) == parsed
