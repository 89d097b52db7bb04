"""Spec parsing against data files: each invalid file names the issues it must produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truenorth.core import outputs, specfields, specs

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


def test_inputs_and_outputs_are_built_sorted_and_imply_depends_on() -> None:
    spec = specs.parse_spec((DATA / "valid" / "inputs-and-outputs.yaml").read_text())
    web = spec.stack("web")
    assert [(ref.name, ref.stack, ref.output) for ref in web.inputs] == [
        ("db_host", "db.v2", "address"),  # split at the last '.': stack names may hold '.'
        ("subnet", "network", "cidr"),
        ("token", "hosts", "api_token"),
    ]
    assert web.explicit_depends_on == ()
    assert web.depends_on == ("db.v2", "hosts", "network")
    hosts = spec.stack("hosts")
    assert hosts.explicit_depends_on == ("network",)
    assert hosts.depends_on == ("network", "db.v2")  # the explicit list, then the inputs' stacks
    assert [(o.name, o.sensitive) for o in hosts.outputs] == [("api_token", True), ("motd", False)]
    assert [o.name for o in web.outputs] == ["cert", "lb_ip", "replicas"]
    cert, lb_ip, replicas = web.outputs
    assert cert == specs.OutputSpec(
        name="cert", sensitive=True, object="v1/Secret/web-tls", namespace="edge", path='.data["tls.crt"]'
    )  # a Secret's value is always sensitive
    assert cert.steps == ("data", "tls.crt")
    assert lb_ip.object_parts == ("v1", "Service", "web")
    assert lb_ip.steps == ("status", "loadBalancer", "ingress", 0, "ip")
    assert (lb_ip.sensitive, lb_ip.namespace) == (False, None)
    assert replicas.object_parts == ("apps/v1", "Deployment", "web")
    assert spec.stack("network").inputs == () and spec.stack("network").outputs == ()


def test_inputs_and_outputs_count_as_a_spec_entry_change() -> None:
    before = specs.parse_spec((DATA / "valid" / "inputs-and-outputs.yaml").read_text())
    text = (DATA / "valid" / "inputs-and-outputs.yaml").read_text()
    after = specs.parse_spec(text.replace("subnet: network.cidr", "subnet: network.cidr_v6"))
    assert before.stack("web").source["inputs"]["subnet"] == "network.cidr"
    assert before.stack("web").source != after.stack("web").source
    assert before.stack("web").source["outputs"]["lb_ip"]["object"] == "v1/Service/web"
    assert before.stack("hosts").source == after.stack("hosts").source


def test_a_stack_built_directly_merges_its_inputs_into_depends_on() -> None:
    stack = specs.StackSpec(
        name="app",
        engine="terraform",
        path="app",
        depends_on=("base",),
        inputs=(outputs.InputRef(name="vpc", stack="network", output="vpc_id"),),
    )
    assert stack.depends_on == ("base", "network")
    assert stack.explicit_depends_on == ("base",)
    assert stack.input_stacks() == ("network",)


def test_json_schema_lists_inputs_and_outputs() -> None:
    variants = {
        v["properties"]["engine"]["const"]: v["properties"]
        for v in specfields.json_schema()["properties"]["stacks"]["items"]["oneOf"]
    }
    assert {"inputs"} <= set(variants["terraform"]) and "outputs" not in variants["terraform"]
    assert variants["ansible"]["outputs"]["additionalProperties"]["properties"] == {
        "sensitive": {"type": "boolean", "default": False}
    }
    kubernetes = variants["kubernetes"]["outputs"]["additionalProperties"]
    assert kubernetes["required"] == ["object", "path"]
    assert variants["kubernetes"]["inputs"]["propertyNames"] == {"pattern": specfields.INPUT_NAME_PATTERN}
