"""Reading YAML that an attacker may have written: bounded in size, nodes and aliases.

Repository content is hostile until validated (security case 3): a "billion laughs"
document is tiny as a graph and enormous as data. :func:`expanded_size` counts nodes as
if every alias were expanded, without expanding them, so a bomb fails on a limit before
it is built. :func:`yaml_problem` describes a syntax error by position only: PyYAML's
own message quotes the input, which may hold a secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

__all__ = ["SafeLoader", "YamlLimitError", "expanded_size", "load_bounded", "yaml_problem"]

try:
    #: The libyaml-backed safe loader (about 9x faster) when PyYAML was built with it.
    SafeLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    SafeLoader = yaml.SafeLoader

_MAX_DEPTH = 500


class YamlLimitError(ValueError):
    """The document is too large, too deep, or holds more than one document."""


def expanded_size(root: yaml.Node, *, limit: int) -> int:
    """How many nodes ``root`` has with every alias expanded, stopping just past ``limit``.

    Absurd nesting (deeper than 500) and recursive aliases count as over the limit. The
    walk is iterative, so no document can make it hit Python's recursion limit.
    """
    over = limit + 1
    memo: dict[int, int] = {}  # id(node) -> its expanded size
    open_nodes: set[int] = set()  # on the current path: reaching one again is a loop
    frames: list[tuple[yaml.Node, Iterator[yaml.Node], list[int]]] = []

    def enter(node: yaml.Node) -> None:
        open_nodes.add(id(node))
        frames.append((node, _children(node), [1]))

    enter(root)
    while frames:
        node, children, total = frames[-1]
        child = next(children, None)
        if child is None:
            frames.pop()
            open_nodes.discard(id(node))
            memo[id(node)] = total[0]
            if not frames:
                return total[0]
            frames[-1][2][0] += total[0]
            if frames[-1][2][0] > limit:
                return over
            continue
        key = id(child)
        if key in memo:
            total[0] += memo[key]
            if total[0] > limit:
                return over
            continue
        if key in open_nodes or len(frames) > _MAX_DEPTH:
            return over
        enter(child)
    return over  # pragma: no cover - the root's frame always returns above


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return iter(node.value)
    if isinstance(node, yaml.MappingNode):
        return (item for pair in node.value for item in pair)
    return iter(())


def yaml_problem(exc: yaml.YAMLError) -> str:
    """The problem and its position, without the snippet of input PyYAML quotes."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)


def load_bounded(text: str, *, max_bytes: int, max_nodes: int) -> Any:
    """Parse exactly one YAML document within the limits.

    Raises :class:`YamlLimitError` beyond a limit and ``yaml.YAMLError`` for bad syntax
    (describe it with :func:`yaml_problem`).
    """
    if len(text.encode("utf-8", "replace")) > max_bytes:
        raise YamlLimitError(f"larger than the {max_bytes} byte limit")
    loader = SafeLoader(text)
    try:
        if not loader.check_node():
            return None
        node = loader.get_node()
        if node is None:
            return None
        if loader.check_node():
            raise YamlLimitError("holds more than one YAML document (limit is 1)")
        if expanded_size(node, limit=max_nodes) > max_nodes:
            raise YamlLimitError(f"expands to more than {max_nodes} YAML nodes (limit); alias bomb?")
        return loader.construct_document(node)
    finally:
        loader.dispose()
