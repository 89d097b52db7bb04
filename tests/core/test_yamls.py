"""Bounded YAML: limits hold before data is built, and errors never quote the input."""

from __future__ import annotations

import inspect
import sys

import pytest
import yaml

from truenorth.core import yamls

BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
)


def test_alias_bomb_fails_on_the_node_limit() -> None:
    with pytest.raises(yamls.YamlLimitError, match="alias bomb"):
        yamls.load_bounded(BOMB, max_bytes=10_000, max_nodes=100_000)


def test_absurd_nesting_counts_as_over_the_limit() -> None:
    deep = "[" * 600 + "]" * 600
    with pytest.raises(yamls.YamlLimitError):
        yamls.load_bounded(deep, max_bytes=10_000, max_nodes=100_000)


def test_size_and_document_limits() -> None:
    with pytest.raises(yamls.YamlLimitError, match="byte limit"):
        yamls.load_bounded("x" * 101, max_bytes=100, max_nodes=10)
    with pytest.raises(yamls.YamlLimitError, match="more than one"):
        yamls.load_bounded("a: 1\n---\nb: 2\n", max_bytes=100, max_nodes=10)
    assert yamls.load_bounded("a: [1, 2]\n", max_bytes=100, max_nodes=10) == {"a": [1, 2]}


def test_syntax_errors_are_described_by_position_only() -> None:
    secret = "hunter2-secret-value"
    with pytest.raises(yaml.YAMLError) as caught:
        yamls.load_bounded(f"password: {secret}\n  bad: [indent", max_bytes=1000, max_nodes=100)
    described = yamls.yaml_problem(caught.value)
    assert "line" in described and secret not in described


def _nested(depth: int) -> yaml.Node:
    node: yaml.Node = yaml.ScalarNode("tag:yaml.org,2002:str", "x")
    for _ in range(depth):
        node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node])
    return node


def test_counting_nodes_never_recurses() -> None:
    # Even with little stack left (a deep caller, a small thread stack), counting a
    # document as deep as the limit allows must not raise RecursionError.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 60)
    try:
        assert yamls.expanded_size(_nested(499), limit=10_000) == 500
        assert yamls.expanded_size(_nested(5000), limit=100_000) > 100_000  # too deep: over the limit
    finally:
        sys.setrecursionlimit(limit)
