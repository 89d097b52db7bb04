"""Sets of object fields in the API server's own ``FieldsV1`` shape, and cutting objects to them.

Server-side apply records which fields each manager owns in ``metadata.managedFields``
as ``FieldsV1`` trees: ``{"f:spec": {"f:replicas": {}}}`` for map keys,
``{"k:{\"name\":\"web\"}": {...}}`` for list items found by their merge key,
``v:`` for set items and ``i:`` for positions. A diff that compares only "the fields
the manifest sets, plus the fields truenorth owned last time" hides server defaults
without hiding a field that was removed from Git. This module builds such sets from
manifests (:func:`fields_of`), reads them from live objects (:func:`owned_by`), joins
them (:func:`union`) and cuts objects down to them (:func:`restrict`). Pure functions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FieldSet", "fields_of", "merge_key", "owned_by", "restrict", "union"]

#: A ``FieldsV1`` tree; ``{}`` as a value means "this whole field".
FieldSet = dict[str, Any]

# List fields whose items the API server matches by key (patchMergeKey / listMapKeys in
# the OpenAPI schema), for the built-in kinds truenorth most often applies. Every other
# list is atomic: it is owned and compared as a whole, as the server does.
_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "env": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "hostAliases": ("ip",),
    "conditions": ("type",),
}
#: Defaults the server fills into list keys before it records them.
_KEY_DEFAULTS = {"protocol": "TCP"}


def merge_key(field: str, items: Sequence[Any]) -> tuple[str, ...] | None:
    """The key fields that identify items of list ``field``, or None for an atomic list."""
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    if field == "ports":
        if all("containerPort" in item for item in items):
            return ("containerPort", "protocol")
        if all("port" in item for item in items):
            return ("port", "protocol")
        return None
    keys = _MERGE_KEYS.get(field)
    if keys is None or not all(all(k in item for k in keys) for item in items):
        return None
    return keys


def _key_of(item: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    values = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in keys}
    return "k:" + json.dumps(values, sort_keys=True, separators=(",", ":"))


def fields_of(value: Any, *, field: str = "") -> FieldSet:
    """The field set a manifest (or any part of one) sets, as server-side apply would own it."""
    if isinstance(value, (dict, Mapping)):  # (dict first: the fast check)
        return {f"f:{key}": fields_of(child, field=str(key)) for key, child in value.items()}
    if isinstance(value, list):
        keys = merge_key(field, value)
        if keys is None:
            return {}
        return {_key_of(item, keys): {".": {}, **fields_of(item)} for item in value}
    return {}


def owned_by(live: Mapping[str, Any], manager: str) -> FieldSet:
    """The fields ``manager`` owns in ``live`` through apply operations (empty when none)."""
    metadata = live.get("metadata")
    entries = metadata.get("managedFields") if isinstance(metadata, Mapping) else None
    owned: FieldSet = {}
    if not isinstance(entries, list):
        return owned
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("manager") != manager:
            continue
        if entry.get("operation") != "Apply" or entry.get("subresource"):
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, Mapping):
            owned = union(owned, dict(fields))
    return owned


def union(left: FieldSet, right: FieldSet) -> FieldSet:
    """Both sets together. ``{}`` on either side of a field means the whole field.

    The result may share parts with ``left`` and ``right``: field sets are never changed
    in place (copying them at every level was a third of a large plan's time).
    """
    if not right:
        return left
    if not left:
        return right
    out = dict(left)
    for key, value in right.items():
        if key not in out:
            out[key] = value
        elif out[key] == {} or value == {}:
            out[key] = {}  # owning the whole field covers any part of it
        else:
            out[key] = union(out[key], value)
    return out


def restrict(value: Any, fields: FieldSet) -> Any:
    """``value`` cut down to ``fields``; ``{}`` keeps the whole value.

    New dicts and lists where something is cut; a part kept whole is ``value``'s own
    (not a copy): give it a value nobody else holds (a fresh :func:`normalize` result)
    when the result will be changed.
    """
    # "." (the item itself) is no child: it never matches a key looked up below.
    if not fields or (len(fields) == 1 and "." in fields):
        return value
    if isinstance(value, (dict, Mapping)):  # (dict first: the fast check)
        out: dict[str, Any] = {}
        for key, child in value.items():
            sub = fields.get(f"f:{key}")
            if sub is not None:
                out[key] = restrict(child, sub) if sub else child
        return out
    if isinstance(value, list):
        return _restrict_list(value, fields)
    return value


def _restrict_list(items: list[Any], children: FieldSet) -> list[Any]:
    kept: list[Any] = []
    for index, item in enumerate(items):
        sub = _match_item(item, index, children=children)
        if sub is not None:
            kept.append(restrict(item, sub))
    return kept


@functools.lru_cache(maxsize=4096)
def _parsed_key(key: str) -> Any:
    """The JSON of a ``k:`` key (the same few keys recur in every object of a kind)."""
    try:
        return json.loads(key[2:])
    except json.JSONDecodeError:
        return None


def _match_item(item: Any, index: int, *, children: FieldSet) -> FieldSet | None:
    for key, sub in children.items():
        if key.startswith("k:") and isinstance(item, Mapping):
            wanted = _parsed_key(key)
            if isinstance(wanted, dict) and all(
                item.get(name, _KEY_DEFAULTS.get(name)) == expected for name, expected in wanted.items()
            ):
                return dict(sub)
        elif key.startswith("v:"):
            try:
                if json.loads(key[2:]) == item:
                    return {}
            except json.JSONDecodeError:
                continue
        elif key == f"i:{index}":
            return dict(sub)
    return None
