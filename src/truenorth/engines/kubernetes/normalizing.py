"""Normalizing desired and live objects so that comparing them shows only real changes.

The API server adds bookkeeping (``status``, ``managedFields``, ``resourceVersion``,
``uid``, ``generation``, ``creationTimestamp``), rewrites some values into canonical
form (``cpu: 0.5`` comes back as ``500m``; a Secret's ``stringData`` is folded into
base64 ``data``) and fills defaults the manifest never set. :func:`normalize` removes
the bookkeeping and puts values into one canonical form on both sides; defaults are
cut away later by restricting both sides to the fields the manifest sets or truenorth
owns (:mod:`truenorth.engines.kubernetes.fieldsets`). Pure functions, used for plans
and drift alike.

It runs on every object of every plan and drift check (10,000 objects is a large stack,
not an extreme one), so it is one pass: the copy that drops nulls is the walk that
finds the quantity maps, and quantities are canonicalized with integer arithmetic
(a mantissa and a power of ten), never ``fractions.Fraction`` or ``copy.deepcopy``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_quantity", "fold_string_data", "normalize"]

_METADATA_NOISE = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_ANNOTATION_NOISE = ("kubectl.kubernetes.io/last-applied-configuration",)
# "\d+(?:\.\d*)?" and not "\d+\.?\d*": the latter splits a run of digits in n ways, and
# backtracking over a long invalid quantity from a manifest took quadratic time.
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$"
)
_MAX_QUANTITY_TEXT = 64
_MAX_EXPONENT = 64
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_DOWN = sorted(_BINARY.items(), key=lambda item: -item[1])
_DECIMAL_DOWN = sorted(_DECIMAL.items(), key=lambda item: -item[1])
#: Where quantities live in the built-in kinds, as (kind or "*", path suffix).
_QUANTITY_MAPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("*", ("resources", "limits")),
    ("*", ("resources", "requests")),
    ("ResourceQuota", ("spec", "hard")),
    ("PersistentVolume", ("spec", "capacity")),
    ("LimitRange", ("default",)),
    ("LimitRange", ("defaultRequest",)),
    ("LimitRange", ("max",)),
    ("LimitRange", ("min",)),
)


# The quantity maps of _QUANTITY_MAPS by the last two keys of their path ("" for any).
_QUANTITY_PATHS: dict[str, frozenset[tuple[str, str]]] = {}
for _kind, _suffix in _QUANTITY_MAPS:
    _QUANTITY_PATHS.setdefault(_kind, frozenset())
    _QUANTITY_PATHS[_kind] |= {(_suffix[0], _suffix[1]) if len(_suffix) == 2 else ("", _suffix[0])}
_QUANTITY_KEYS = frozenset(key for paths in _QUANTITY_PATHS.values() for _, key in paths)


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without server bookkeeping, nulls and ``status``, in canonical form.

    The copy shares nothing with ``obj``: callers may change it.
    """
    kind = obj.get("kind")
    paths = _QUANTITY_PATHS["*"] | _QUANTITY_PATHS.get(str(kind or ""), frozenset())
    out: dict[str, Any] = {
        key: _copy(child, parent="", key=str(key), paths=paths)
        for key, child in obj.items()
        if child is not None and key not in ("status", "metadata")
    }
    metadata = obj.get("metadata")
    if metadata is not None:
        # The bookkeeping (managedFields is most of a live object) is left out, not copied.
        out["metadata"] = (
            {
                key: _copy(child, parent="metadata", key=str(key), paths=paths)
                for key, child in metadata.items()
                if child is not None and key not in _METADATA_NOISE
            }
            if isinstance(metadata, Mapping)
            else _copy(metadata, parent="", key="metadata", paths=paths)
        )
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        for key in ("annotations", "labels"):
            values = metadata.get(key)
            if isinstance(values, dict):
                for noise in _ANNOTATION_NOISE:
                    values.pop(noise, None)
                if not values:
                    metadata.pop(key)
    if kind == "Secret" and out.get("apiVersion") == "v1":
        out = fold_string_data(out)
    return out


def _copy(value: Any, *, parent: str, key: str, paths: frozenset[tuple[str, str]]) -> Any:
    """``value`` copied without nulls; the quantity maps among it canonical.

    ``parent`` and ``key`` are the last two keys of its path (list items keep their
    list's), which is all :data:`_QUANTITY_MAPS` looks at.
    """
    if isinstance(value, dict):
        if key in _QUANTITY_KEYS and ((parent, key) in paths or ("", key) in paths):
            return {
                name: _quantity_or_copy(child, parent=key, key=str(name))
                for name, child in value.items()
                if child is not None
            }
        return {
            name: _copy(child, parent=key, key=str(name), paths=paths)
            for name, child in value.items()
            if child is not None
        }
    if isinstance(value, list):
        return [_copy(item, parent=parent, key=key, paths=paths) for item in value]
    return value


def _quantity_or_copy(value: Any, *, parent: str, key: str) -> Any:
    canonical = canonical_quantity(value)
    if canonical is not None:
        return canonical
    # Not a quantity: kept as it is (copied), as the quantity maps' other values always were.
    return (
        _copy(value, parent=parent, key=key, paths=frozenset()) if isinstance(value, (dict, list)) else value
    )


def fold_string_data(secret: dict[str, Any]) -> dict[str, Any]:
    """Fold ``stringData`` into base64 ``data`` the way the API server does on write.

    Invalid values (not strings) are left in ``stringData`` untouched, so that the
    Secret is still rejected later and masking still covers them.
    """
    string_data = secret.get("stringData")
    if not isinstance(string_data, Mapping):
        return secret
    if not all(isinstance(value, str) for value in string_data.values()):
        return secret
    data = secret.get("data")
    merged: dict[str, Any] = dict(data) if isinstance(data, Mapping) else {}
    for key, value in string_data.items():
        merged[str(key)] = base64.b64encode(value.encode("utf-8")).decode("ascii")
    out = dict(secret)
    out.pop("stringData")
    out["data"] = merged
    return out


def canonical_quantity(value: Any) -> str | None:
    """Kubernetes' canonical text for a resource quantity (``0.5`` → ``500m``,
    ``1024Mi`` → ``1Gi``), or None when ``value`` is not a quantity."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    text = str(value).strip()
    # Longer numbers or larger exponents are no quantity a cluster accepts, and 1e999999999
    # would make the arithmetic below run for hours: compare those as plain strings.
    if len(text) > _MAX_QUANTITY_TEXT:
        return None
    match = _QUANTITY.match(text)
    if match is None:
        return None
    number, exponent, suffix = match.group(1), match.group(2), match.group(3) or ""
    if exponent and abs(int(exponent[1:])) > _MAX_EXPONENT:
        return None
    # The amount is mantissa * 10**scale, exactly: integers only.
    whole, _, fraction = number.lstrip("+").partition(".")
    negative = whole.startswith("-")
    mantissa = int((whole.lstrip("-") or "0") + fraction)
    mantissa = -mantissa if negative else mantissa
    scale = -len(fraction)
    if exponent:
        scale += int(exponent[1:])
    elif suffix in _BINARY:
        mantissa *= 1024 ** _BINARY[suffix]
    else:
        scale += _DECIMAL[suffix]
    if mantissa == 0:
        return "0"
    while mantissa % 10 == 0:  # no trailing zeros: then 10**power divides it iff scale >= power
        mantissa //= 10
        scale += 1
    if suffix in _BINARY and scale >= 0:
        amount = mantissa * 10**scale
        for name, power in _BINARY_DOWN:
            if amount % 1024**power == 0:
                return f"{amount // 1024**power}{name}"
        return str(amount)
    for name, power in _DECIMAL_DOWN:
        if scale >= power:
            return f"{mantissa * 10 ** (scale - power)}{name}"
    # Finer than a nano: the server rounds up to the next nano.
    nanos = -((-mantissa) // 10 ** (-(scale + 9)))
    return f"{nanos}n"
