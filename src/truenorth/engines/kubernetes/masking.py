"""Keeping Kubernetes Secret values out of everything truenorth shows or stores.

A Secret's ``data`` and ``stringData`` values are replaced by a marker in every plan,
diff, rendered output and error (security cases 6 and 9; Argo CD CVE-2023-25163,
CVE-2025-23216). Masking works on the structure, so it holds for invalid Secrets too (an
int in ``stringData``, bad base64 in ``data``): a value is masked because of where it
is, not because it parsed. :func:`secret_values` lists the clear and base64 forms of
every value so that the engine's second redactor masks them in free text that can echo
an object (an API error that quotes one; see :mod:`~truenorth.engines.kubernetes.engine`). ``kubectl apply``'s last-applied annotation repeats the whole Secret, so
it is masked as well.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping
from typing import Any

from truenorth.core import redaction
from truenorth.engines.kubernetes import objects

__all__ = [
    "CHANGED_MARKER",
    "is_secret",
    "mask_object",
    "mask_pair",
    "secret_values",
    "validate_secret",
]

#: What a Secret value reads as when the desired value differs from the live one.
CHANGED_MARKER = "(sensitive value, changed)"
_VALUE_FIELDS = ("data", "stringData")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def is_secret(obj: Mapping[str, Any] | None) -> bool:
    """True for a core ``v1`` Secret."""
    return isinstance(obj, Mapping) and obj.get("kind") == "Secret" and obj.get("apiVersion") in ("v1", None)


def mask_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with every Secret value replaced by the sensitive marker."""
    out = copy.deepcopy(dict(obj))
    if not is_secret(out):
        return out
    for name in _VALUE_FIELDS:
        values = out.get(name)
        if isinstance(values, Mapping):
            out[name] = {str(key): redaction.SENSITIVE_MARKER for key in values}
        elif values is not None:
            out[name] = redaction.SENSITIVE_MARKER
    _mask_last_applied(out)
    return out


def mask_pair(desired: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """Mask a desired/live pair so that a changed value still shows as changed."""
    if not (is_secret(desired) or is_secret(live)):
        return (copy.deepcopy(desired), copy.deepcopy(live))
    masked_desired = mask_object(desired) if desired is not None else None
    masked_live = mask_object(live) if live is not None else None
    if desired is None or live is None or masked_desired is None:
        return (masked_desired, masked_live)
    for name in _VALUE_FIELDS:
        want, have = desired.get(name), live.get(name)
        if isinstance(want, Mapping) and isinstance(masked_desired.get(name), dict):
            for key, value in want.items():
                if isinstance(have, Mapping) and key in have and have[key] != value:
                    masked_desired[name][str(key)] = CHANGED_MARKER
        elif want != have and want is not None and have is not None:
            masked_desired[name] = CHANGED_MARKER
    return (masked_desired, masked_live)


def _mask_last_applied(obj: dict[str, Any]) -> None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
            annotations[_LAST_APPLIED] = redaction.SENSITIVE_MARKER


def secret_values(obj: Mapping[str, Any]) -> list[str]:
    """Every form a Secret value may take in text: as written, base64 and decoded."""
    if not is_secret(obj):
        return []
    found: list[str] = []
    for name in _VALUE_FIELDS:
        values = obj.get(name)
        items = values.values() if isinstance(values, Mapping) else [values] if values is not None else []
        for value in items:
            if isinstance(value, (dict, list)) or value is None or isinstance(value, bool):
                continue
            text = str(value)
            found.append(text)
            found.append(base64.b64encode(text.encode("utf-8")).decode("ascii"))
            if name == "data":
                decoded = _decode(text)
                if decoded is not None:
                    found.append(decoded)
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if isinstance(annotations, Mapping) and isinstance(annotations.get(_LAST_APPLIED), str):
        found.append(annotations[_LAST_APPLIED])
    return found


def _decode(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def validate_secret(obj: Mapping[str, Any]) -> None:
    """Raise :class:`~truenorth.engines.kubernetes.objects.ManifestError` for a Secret the API
    would reject; the message names the key, never the value."""
    if not is_secret(obj):
        return
    ref = objects.ObjectRef.of(obj, generated=True)
    for name in _VALUE_FIELDS:
        values = obj.get(name)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise objects.ManifestError(f"{ref.address}: {name} must be a mapping of keys to strings")
        for key, value in values.items():
            if not isinstance(value, str):
                kind = (
                    "a number"
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                    else "not a string"
                )
                raise objects.ManifestError(
                    f"{ref.address}: {name} key {str(key)!r} is {kind} (values must be strings)"
                )
            if name == "data":
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    raise objects.ManifestError(
                        f"{ref.address}: data key {str(key)!r} is not valid base64"
                    ) from None
