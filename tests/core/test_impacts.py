"""Which stacks a new revision touches: table-driven cases of the change-impact rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from truenorth.core import impacts, outputs, specs

BASE = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    var_files: [vars/common.tfvars]
  - name: app
    engine: terraform
    path: stacks/app
    depends_on: [network]
  - name: dns
    engine: terraform
    path: stacks/dns
    depends_on: [app]
"""

APP_VARS_CHANGED = BASE.replace(
    "    depends_on: [network]\n", "    depends_on: [network]\n    vars: {replicas: 3}\n"
)
WITH_CACHE = (
    BASE
    + """\
  - name: cache
    engine: terraform
    path: stacks/cache
"""
)
ROOT_STACK = """\
stacks:
  - name: everything
    engine: terraform
    path: .
"""


def spec(text: str) -> specs.RepoSpec:
    return specs.parse_spec(text)


@dataclass(frozen=True)
class Case:
    id: str
    new: str
    expected: dict[str, tuple[str, ...]]
    old: str | None = BASE
    changed: tuple[str, ...] | None = ()
    applied: Mapping[str, str | None] = field(default_factory=dict)
    planned_with: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)


CASES = [
    Case("nothing changed", BASE, {}),
    Case(
        "first revision: every stack is new",
        BASE,
        {"network": ("new stack",), "app": ("new stack",), "dns": ("new stack",)},
        old=None,
        changed=None,
    ),
    Case(
        "a file in one stack folder", BASE, {"app": ("stacks/app changed",)}, changed=("stacks/app/main.tf",)
    ),
    Case(
        "a nested file counts, a sibling folder with a common prefix does not",
        BASE,
        {"app": ("stacks/app changed",)},
        changed=("stacks/app/modules/x/main.tf", "stacks/application/main.tf"),
    ),
    Case(
        "a var file outside the folder",
        BASE,
        {"network": ("vars/common.tfvars changed",)},
        changed=("vars/common.tfvars",),
    ),
    Case("files outside every input", BASE, {}, changed=("README.md", "docs/x.md", "truenorth.yaml")),
    Case(
        "the spec entry changed",
        APP_VARS_CHANGED,
        {"app": ("spec entry changed",)},
        changed=("truenorth.yaml",),
    ),
    Case("a new stack", WITH_CACHE, {"cache": ("new stack",)}, changed=("truenorth.yaml",)),
    Case(
        "a dependency applied at another revision since the last plan",
        BASE,
        {"app": ("dependency network was applied at another revision",)},
        applied={"network": "b" * 40, "app": "a" * 40},
        planned_with={"app": {"network": "a" * 40}, "dns": {"app": "a" * 40}},
    ),
    Case(
        "a dependency first applied after the last plan",
        BASE,
        {"app": ("dependency network was applied at another revision",)},
        applied={"network": "b" * 40},
        planned_with={"app": {"network": None}},
    ),
    Case(
        "dependency revisions unchanged",
        BASE,
        {},
        applied={"network": "a" * 40, "app": "a" * 40},
        planned_with={"app": {"network": "a" * 40}, "dns": {"app": "a" * 40}},
    ),
    Case(
        "no record of the last plan: no dependency reason",
        BASE,
        {},
        applied={"network": "b" * 40},
    ),
    Case(
        "unknown changes (old revision gone): every known stack",
        BASE,
        {
            "network": ("changes since the last plan are unknown",),
            "app": ("changes since the last plan are unknown",),
            "dns": ("changes since the last plan are unknown",),
        },
        changed=None,
    ),
    Case(
        "several reasons, in dependency order",
        APP_VARS_CHANGED,
        {
            "network": ("stacks/network changed",),
            "app": ("spec entry changed", "stacks/app changed"),
        },
        changed=("stacks/app/main.tf", "stacks/network/main.tf"),
    ),
    Case(
        "a stack at the repository root sees every change",
        ROOT_STACK,
        {"everything": (". changed",)},
        old=ROOT_STACK,
        changed=("anything/at/all.txt",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_impacted_stacks(case: Case) -> None:
    found = impacts.impacted_stacks(
        old=spec(case.old) if case.old is not None else None,
        new=spec(case.new),
        changed_paths=case.changed,
        applied=case.applied,
        planned_with=case.planned_with,
    )
    assert {impact.stack: impact.reasons for impact in found} == case.expected
    order = [impact.stack for impact in found]
    assert order == [s.name for s in spec(case.new).order() if s.name in case.expected]


@pytest.mark.parametrize(
    ("changed", "input_path", "expected"),
    [
        ("stacks/app/main.tf", "stacks/app", True),
        ("stacks/app", "stacks/app", True),
        ("stacks/apple/main.tf", "stacks/app", False),
        ("stacks/main.tf", "stacks/app", False),
        ("vars/a.tfvars", "vars/a.tfvars", True),
        ("vars/a.tfvars.bak", "vars/a.tfvars", False),
        ("x", ".", True),
    ],
)
def test_touches(changed: str, input_path: str, expected: bool) -> None:
    assert impacts.touches(changed, input_path) is expected


def test_dependency_moves_lists_only_moved_dependencies() -> None:
    stack = specs.StackSpec(name="app", engine="terraform", path="app", depends_on=("a", "b", "c"))
    moved = impacts.dependency_moves(
        stack,
        applied={"a": "1" * 40, "b": "2" * 40, "c": None},
        planned_with={"a": "1" * 40, "b": "1" * 40, "c": None},
    )
    assert moved == ("b",)
    assert impacts.dependency_moves(stack, applied={"a": "1" * 40}, planned_with=None) == ()


def test_an_input_only_dependency_does_not_replan_on_every_apply() -> None:
    stack = specs.StackSpec(
        name="app",
        engine="terraform",
        path="app",
        depends_on=("base",),
        inputs=(outputs.InputRef(name="cidr", stack="network", output="cidr"),),
    )
    assert stack.depends_on == ("base", "network")
    moved = impacts.dependency_moves(
        stack,
        applied={"base": "1" * 40, "network": "2" * 40},
        planned_with={"base": "1" * 40, "network": "1" * 40},
    )
    assert moved == ()  # network only feeds an input: its outputs decide


def test_input_moves_name_the_input_and_its_source() -> None:
    stack = specs.StackSpec(
        name="app",
        engine="terraform",
        path="app",
        inputs=(
            outputs.InputRef(name="cidr", stack="network", output="cidr"),
            outputs.InputRef(name="db_host", stack="network", output="address"),
        ),
    )
    planned = {"cidr": "value a", "db_host": "value b"}
    assert impacts.input_moves(stack, basis=dict(planned), planned_basis=planned) == ()
    assert impacts.input_moves(stack, basis={**planned, "db_host": "value c"}, planned_basis=planned) == (
        "input db_host changed (network.address)",
    )
    assert impacts.input_moves(stack, basis={}, planned_basis=None) == ()
