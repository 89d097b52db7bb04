"""Dependency ordering: stable topological order, cycles named, transitive dependents."""

from __future__ import annotations

import pytest

from truenorth.core import ordering


def test_order_is_stable_and_dependencies_first() -> None:
    graph = {"app": ["db", "net"], "db": ["net"], "net": [], "web": []}
    assert ordering.topological_order(graph) == ("net", "db", "app", "web")


def test_cycle_is_named() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": []}
    assert ordering.find_cycle(graph) == ("a", "b", "c", "a")
    with pytest.raises(ordering.CycleError, match="cycle: a -> b -> c -> a"):
        ordering.topological_order(graph)


def test_no_cycle() -> None:
    assert ordering.find_cycle({"a": ["b"], "b": []}) == ()


def test_dependents_are_transitive() -> None:
    graph = {"net": [], "db": ["net"], "app": ["db"], "web": []}
    assert ordering.dependents(graph, ["net"]) == {"db", "app"}
    assert ordering.dependents(graph, ["web"]) == frozenset()
