"""Dependency ordering: stable topological order, cycles named (the walk over it: test_walks)."""

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


def test_a_chain_of_thousands_is_ordered_without_recursion() -> None:
    # A depends_on chain from a pushed truenorth.yaml, declared dependents first: the
    # cycle search used to recurse once per link (RecursionError past ~1000).
    size = 5000
    graph = {f"s{i}": [f"s{i + 1}"] if i < size - 1 else [] for i in range(size)}
    assert ordering.find_cycle(graph) == ()
    assert ordering.topological_order(graph) == tuple(f"s{i}" for i in reversed(range(size)))


def test_a_cycle_through_thousands_is_named() -> None:
    size = 5000
    graph = {f"s{i}": [f"s{(i + 1) % size}"] for i in range(size)}
    cycle = ordering.find_cycle(graph)
    assert len(cycle) == size + 1 and cycle[0] == cycle[-1] == "s0"
    with pytest.raises(ordering.CycleError):
        ordering.topological_order(graph)


def test_declaration_order_breaks_ties_and_duplicates_count_once() -> None:
    graph = {"web": ["app", "app"], "app": ["db"], "cache": [], "db": [], "ext": ["outside"]}
    assert ordering.topological_order(graph) == ("cache", "db", "app", "web", "ext")
