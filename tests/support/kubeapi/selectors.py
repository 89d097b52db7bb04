"""Label and field selectors as the real API server parses them (kmock ignores them).

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``
and ``!a``, comma-separated. Field selectors: ``metadata.name`` and
``metadata.namespace`` with ``=``, ``==`` and ``!=``; any other field is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SelectorError", "field_selector", "label_selector"]

Predicate = Callable[[Mapping[str, Any]], bool]
_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


class SelectorError(ValueError):
    pass


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def label_selector(text: str) -> Predicate:
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for part in _split(text):
        if match := _SET.match(part):
            key, op, values = (
                match.group(1),
                match.group(2),
                {v.strip() for v in match.group(3).split(",") if v.strip()},
            )
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif match := _EQ.match(part):
            key, op, value = match.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif match := _EXISTS.match(part):
            negate, key = match.group(1) == "!", match.group(2)
            checks.append(lambda labels, k=key, n=negate: (k in labels) != n)
        else:
            raise SelectorError(f"unable to parse requirement: {part.strip()!r}")

    def predicate(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return predicate


def field_selector(text: str) -> Predicate:
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for part in _split(text):
        match = _EQ.match(part)
        if match is None:
            raise SelectorError(f"invalid selector: {part.strip()!r}")
        key, op, value = match.groups()
        if key not in ("metadata.name", "metadata.namespace"):
            raise SelectorError(f"field label not supported: {key}")
        attribute = key.split(".", 1)[1]
        if op == "!=":
            checks.append(lambda obj, a=attribute, v=value: (obj.get("metadata") or {}).get(a, "") != v)
        else:
            checks.append(lambda obj, a=attribute, v=value: (obj.get("metadata") or {}).get(a, "") == v)

    def predicate(obj: Mapping[str, Any]) -> bool:
        return all(check(obj) for check in checks)

    return predicate
