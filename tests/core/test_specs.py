"""Spec parsing against data files: each invalid file names the issues it must produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truenorth.core import specfields, specs

DATA = Path(__file__).parent.parent / "data" / "specs"


def _header(path: Path, key: str) -> list[str]:
    prefix = f"# {key}: "
    return [line[len(prefix) :].strip() for line in path.read_text().splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("path", sorted((DATA / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_specs_parse_in_dependency_order(path: Path) -> None:
    spec = specs.parse_spec(path.read_text(), filename=path.name)
    (expected,) = _header(path, "order")
    assert [stack.name for stack in spec.order()] == expected.split()


@pytest.mark.parametrize("path", sorted((DATA / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_specs_report_every_issue_with_file_and_field(path: Path) -> None:
    with pytest.raises(specs.SpecError) as caught:
        specs.parse_spec(path.read_text(), filename=path.name)
    rendered = [str(issue) for issue in caught.value.issues]
    expected = _header(path, "expect")
    assert expected, "fixture must declare its expected issues"
    for fragment in expected:
        assert any(fragment in line for line in rendered), (fragment, rendered)
    assert all(line.startswith(f"{path.name}: ") for line in rendered)


def test_defaults_and_typed_options() -> None:
    spec = specs.parse_spec((DATA / "valid" / "all-engines.yaml").read_text())
    infra = spec.stack("infra")
    assert infra.terraform.workspace == "prod"
    assert infra.terraform.binary == "tofu"
    assert infra.terraform.vars == {"region": "eu", "count": 3, "tags": {"team": "ops"}}
    assert infra.drift_interval == 5400
    assert infra.input_paths() == ("tf", "tf/prod.tfvars")
    hosts = spec.stack("hosts")
    assert hosts.ansible.vault_password == "prod-vault"
    assert hosts.self_heal is True
    assert hosts.auto_apply is False
    assert hosts.drift_interval == 600
    cluster = spec.stack("cluster")
    assert cluster.kubernetes.timeout == 120
    assert cluster.kubernetes.ignore_differences[0].json_pointers == ("/spec/replicas",)
    plain = specs.parse_spec("stacks:\n  - {name: x, engine: ansible, path: p}\n").stack("x")
    assert plain.ansible.playbook == "site.yml"
    assert plain.ansible.inventory is None


def test_paths_are_normalized() -> None:
    spec = specs.parse_spec("stacks:\n  - {name: x, engine: terraform, path: ./a//b/}\n")
    assert spec.stack("x").path == "a/b"


def test_unknown_stack_selection_in_order() -> None:
    spec = specs.parse_spec((DATA / "valid" / "two-stacks.yaml").read_text())
    assert [s.name for s in spec.order(["app"])] == ["app"]


def test_json_schema_is_json_and_lists_every_engine() -> None:
    schema = specfields.json_schema()
    json.dumps(schema)
    variants = schema["properties"]["stacks"]["items"]["oneOf"]
    assert {v["properties"]["engine"]["const"] for v in variants} == set(specfields.ENGINES)
    terraform = next(v for v in variants if v["properties"]["engine"]["const"] == "terraform")
    assert {"vars", "var_files", "workspace", "binary", "depends_on"} <= set(terraform["properties"])
    assert terraform["additionalProperties"] is False


def test_yaml_size_limit() -> None:
    with pytest.raises(ValueError, match="byte limit"):
        specs.load_yaml_bounded("a: " + "x" * (specs.MAX_SPEC_BYTES + 1))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a/b", None),
        ("", "must not be empty"),
        ("a/../b", "escapes"),
        ("/abs", "absolute"),
        ("~/x", "absolute"),
        ("-rf", "starts with '-'"),
        ("a\\..\\b", "backslash"),
        ("a\nb", "control"),
        ("%2E%2E/x", "encoded"),
    ],
)
def test_check_relative_path(value: str, problem: str | None) -> None:
    found = specs.check_relative_path(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def _chain(size: int, *, closed: bool = False) -> str:
    lines = ["stacks:"]
    for i in range(size):
        dep = f"s{i + 1}" if i < size - 1 else ("s0" if closed else None)
        tail = f", depends_on: [{dep}]" if dep else ""
        lines.append(f"  - {{name: s{i}, engine: terraform, path: p{i}{tail}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("size", [998, 3000])
def test_a_long_depends_on_chain_is_ordered(size: int) -> None:
    # 998 links used to raise RecursionError from the recursive cycle search.
    spec = specs.parse_spec(_chain(size))
    assert [stack.name for stack in spec.order()] == [f"s{i}" for i in reversed(range(size))]


def test_a_long_dependency_cycle_is_a_spec_error() -> None:
    with pytest.raises(specs.SpecError) as caught:
        specs.parse_spec(_chain(3000, closed=True))
    [issue] = caught.value.issues
    assert issue.field == "stacks[0].depends_on"
    assert issue.message.startswith("dependency cycle: s0 -> s1 -> s2")
