"""Server-side apply field ownership for the test API server, in the real FieldsV1 shape.

An applied configuration owns its leaf fields; list items with a merge key are owned
as ``k:{...}`` entries with a ``.`` marker, atomic lists as a whole. Fields a manager
owned before and no longer applies are removed from the object unless another manager
owns them too — the behaviour kmock lacks (a removed field must disappear). Written
independently of truenorth's own field-set code so the tests do not grade it by itself.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["Path", "fields_v1", "leaf_paths", "merge", "remove_path", "value_at"]

Path = tuple[str, ...]

_KEYED = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "env": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "conditions": ("type",),
}
_IDENTITY = {("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"), ("f:metadata", "f:namespace")}


def _keys(field: str, items: list[Any]) -> tuple[str, ...] | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    if field == "ports":
        if all("containerPort" in item for item in items):
            return ("containerPort", "protocol")
        if all("port" in item for item in items):
            return ("port", "protocol")
        return None
    keys = _KEYED.get(field)
    if keys and all(all(k in item for k in keys) for item in items):
        return keys
    return None


def _key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    values = {k: item.get(k, "TCP" if k == "protocol" else None) for k in keys}
    return "k:" + json.dumps(values, sort_keys=True, separators=(",", ":"))


def _matches(item: Any, segment: str) -> bool:
    if not isinstance(item, dict):
        return False
    wanted = json.loads(segment[2:])
    return all(item.get(k, "TCP" if k == "protocol" else None) == v for k, v in wanted.items())


def leaf_paths(value: Any, prefix: Path = (), field: str = "") -> set[Path]:
    """Every field an applied configuration sets, as FieldsV1 paths."""
    found: set[Path] = set()
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix}
        for key, child in value.items():
            found |= leaf_paths(child, (*prefix, f"f:{key}"), str(key))
    elif isinstance(value, list):
        keys = _keys(field, value)
        if keys is None:
            return {prefix}
        for item in value:
            here = (*prefix, _key(item, keys))
            found.add((*here, "."))
            found |= leaf_paths(item, here)
    else:
        found.add(prefix)
    return {path for path in found if path not in _IDENTITY}


def fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for segment in path:
            node = node.setdefault(segment, {})
    return tree


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for segment in path:
        if segment == ".":
            return node
        if segment.startswith("f:") and isinstance(node, dict):
            if segment[2:] not in node:
                return None
            node = node[segment[2:]]
        elif segment.startswith("k:") and isinstance(node, list):
            node = next((item for item in node if _matches(item, segment)), None)
            if node is None:
                return None
        else:
            return None
    return node


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Remove the field (or keyed list item) at ``path``; empty maps left behind go too."""
    parents: list[tuple[Any, str]] = []
    node: Any = obj
    for segment in path[:-1]:
        parents.append((node, segment))
        if segment.startswith("f:") and isinstance(node, dict):
            node = node.get(segment[2:])
        elif segment.startswith("k:") and isinstance(node, list):
            node = next((item for item in node if _matches(item, segment)), None)
        else:
            return
        if node is None:
            return
    last = path[-1]
    if last == "." and parents:
        container, segment = parents[-1]
        if isinstance(container, dict):
            return
        parent_list = container
        if isinstance(parent_list, list):
            parent_list[:] = [item for item in parent_list if not _matches(item, segment)]
        return
    if last.startswith("f:") and isinstance(node, dict):
        node.pop(last[2:], None)
    # Drop maps emptied by the removal (not the object's top level or its metadata).
    for container, segment in reversed(parents):
        if not segment.startswith("f:") or not isinstance(container, dict):
            break
        child = container.get(segment[2:])
        if isinstance(child, dict) and not child and segment not in ("f:metadata", "f:spec"):
            container.pop(segment[2:])
        else:
            break


def merge(live: Any, applied: Any, field: str = "") -> Any:
    """Apply ``applied`` over ``live``: maps merge, keyed lists merge by key, the rest replaces."""
    if isinstance(live, dict) and isinstance(applied, dict):
        out = copy.deepcopy(live)
        for key, value in applied.items():
            out[key] = merge(live.get(key), value, str(key)) if key in live else copy.deepcopy(value)
        return out
    if isinstance(live, list) and isinstance(applied, list):
        keys = _keys(field, applied)
        if keys is not None and _keys(field, live) == keys:
            merged: list[Any] = []
            rest = list(live)
            for item in applied:
                segment = _key(item, keys)
                match = next((old for old in rest if _matches(old, segment)), None)
                if match is not None:
                    rest.remove(match)
                    merged.append(merge(match, item))
                else:
                    merged.append(copy.deepcopy(item))
            return merged + rest
    return copy.deepcopy(applied)
