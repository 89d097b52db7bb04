"""Normalizing desired and live objects so that comparing them shows only real changes.

The API server adds bookkeeping (``status``, ``managedFields``, ``resourceVersion``,
``uid``, ``generation``, ``creationTimestamp``), rewrites some values into canonical
form (``cpu: 0.5`` comes back as ``500m``; a Secret's ``stringData`` is folded into
base64 ``data``) and fills defaults the manifest never set. :func:`normalize` removes
the bookkeeping and puts values into one canonical form on both sides; defaults are
cut away later by restricting both sides to the fields the manifest sets or truenorth
owns (:mod:`truenorth.engines.kubernetes.fieldsets`). Pure functions, used for plans
and drift alike.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Mapping
from fractions import Fraction
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


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without server bookkeeping, nulls and ``status``, in canonical form."""
    out: dict[str, Any] = _drop_nulls(copy.deepcopy(dict(obj)))
    out.pop("status", None)
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        for key in _METADATA_NOISE:
            metadata.pop(key, None)
        for key in ("annotations", "labels"):
            values = metadata.get(key)
            if isinstance(values, dict):
                for noise in _ANNOTATION_NOISE:
                    values.pop(noise, None)
                if not values:
                    metadata.pop(key)
    kind = out.get("kind")
    if kind == "Secret" and out.get("apiVersion") == "v1":
        out = fold_string_data(out)
    _canonical_quantities(out, kind=str(kind or ""), path=())
    return out


def _drop_nulls(value: Any) -> Any:  # returns the same shape it is given
    if isinstance(value, dict):
        return {key: _drop_nulls(child) for key, child in value.items() if child is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


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


def _canonical_quantities(value: Any, *, kind: str, path: tuple[str, ...]) -> None:
    if isinstance(value, dict):
        if any((want in ("*", kind)) and path[-len(suffix) :] == suffix for want, suffix in _QUANTITY_MAPS):
            for key, child in value.items():
                canonical = canonical_quantity(child)
                if canonical is not None:
                    value[key] = canonical
            return
        for key, child in value.items():
            _canonical_quantities(child, kind=kind, path=(*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            _canonical_quantities(item, kind=kind, path=path)


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
    try:
        amount = Fraction(number)
    except (ValueError, ZeroDivisionError):
        return None
    if exponent:
        amount *= Fraction(10) ** int(exponent[1:])
    elif suffix in _BINARY:
        amount *= 1024 ** _BINARY[suffix]
    else:
        amount *= Fraction(10) ** _DECIMAL[suffix]
    if amount == 0:
        return "0"
    if suffix in _BINARY and amount.denominator == 1:
        for name, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
            scaled = amount / 1024**power
            if scaled.denominator == 1:
                return f"{scaled.numerator}{name}"
        return str(amount.numerator)
    return _decimal_text(amount)


def _decimal_text(amount: Fraction) -> str:
    for name, power in sorted(_DECIMAL.items(), key=lambda item: -item[1]):
        scaled = amount / Fraction(10) ** power
        if scaled.denominator == 1:
            return f"{scaled.numerator}{name}"
    # Finer than a nano: the server rounds up to the next nano.
    nanos = -((-amount * 10**9) // 1)
    return f"{nanos}n"
