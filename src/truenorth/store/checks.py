"""Argument checks shared by the store's methods: bad input gets a clear ``ValueError``.

SQLite accepts almost anything (a 500-character stack name, NaN in JSON, a naive
datetime) where PostgreSQL refuses it; checking here makes both backends behave the
same and keeps driver errors for real database trouble. Text is also made storable:
PostgreSQL cannot hold NUL characters and no driver can encode lone surrogates, so
both are replaced rather than losing a whole run's output.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from truenorth.store import errors

__all__ = ["aware", "bounded", "choice", "choices", "json_list", "json_object", "storable_text"]

_REPLACEMENT = "\ufffd"


def choice(value: object, allowed: Sequence[str], *, what: str) -> str:
    """``value`` (a string or a string-valued enum member) if it is one of ``allowed``."""
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def choices(values: object, allowed: Sequence[str], *, what: str) -> tuple[str, ...]:
    """One value or an iterable of values, each checked with :func:`choice`."""
    if isinstance(values, str | enum.Enum):
        return (choice(values, allowed, what=what),)
    if not isinstance(values, Iterable):
        raise ValueError(f"expected a {what} or a list of them, got {type(values).__name__}")
    checked = tuple(choice(v, allowed, what=what) for v in values)
    if not checked:
        raise ValueError(f"an empty list of {what}s matches nothing")
    return checked


def bounded(value: object, *, what: str, limit: int, empty: bool = False) -> str:
    """``value`` if it is a string of at most ``limit`` characters (non-empty unless allowed)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value and not empty:
        raise ValueError(f"{what} must not be empty")
    if len(value) > limit:
        raise ValueError(
            f"{what} is {len(value)} characters long, at most {limit} are allowed: {errors.scrub(value[:40])!r}..."
        )
    return storable_text(value)


def aware(value: object, *, what: str) -> datetime:
    """``value`` if it is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value


def json_object(value: Mapping[str, Any] | None, *, what: str) -> dict[str, Any]:
    """A JSON-compatible object (``{}`` for None), checked by serializing it."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a JSON object (a mapping), got {type(value).__name__}")
    result = dict(value)
    _check_json(result, what=what)
    return result


def json_list(value: Iterable[Any] | None, *, what: str) -> list[Any]:
    """A JSON-compatible list (``[]`` for None), checked by serializing it."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValueError(f"{what} must be a JSON list, got {type(value).__name__}")
    result = list(value)
    _check_json(result, what=what)
    return result


def storable_text(value: str) -> str:
    """``value`` with NUL characters and unencodable lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", _REPLACEMENT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join(_REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value


def _check_json(value: Any, *, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-compatible: {exc}") from None
