"""Reading YAML that an attacker may have written: bounded in size, nodes and aliases.

Repository content is hostile until validated (security case 3): a "billion laughs"
document is tiny as a graph and enormous as data. :func:`expanded_size` counts nodes as
if every alias were expanded, without expanding them, so a bomb fails on a limit before
it is built. :func:`yaml_problem` describes a syntax error by position only: PyYAML's
own message quotes the input, which may hold a secret.
"""

from __future__ import annotations

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

    Absurd nesting and recursive aliases count as over the limit.
    """
    memo: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if depth > _MAX_DEPTH:
            return limit + 1
        memo[key] = limit + 1  # a node that contains itself never ends
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
                if total > limit:
                    break
        memo[key] = total
        return total

    return size(root, 0)


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
