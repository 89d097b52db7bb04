"""Durations as users write them in ``truenorth.yaml`` (``90s``, ``10m``, ``1h30m``).

Go-style durations are what Argo CD and Flux users already type. Parsing is strict:
a sign, an exponent, an unknown unit or an absurd value is an error, because one bad
interval must never be read as "0" or "forever" (Flux CVE-2022-39272).
"""

from __future__ import annotations

import math
import re

__all__ = ["MAX_SECONDS", "DurationError", "format_duration", "parse_duration"]

#: The longest interval accepted: 30 days. Anything longer is a typo, not a schedule.
MAX_SECONDS = 30 * 24 * 3600

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d{1,9})(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d{1,9}(?:ms|s|m|h|d))+")


class DurationError(ValueError):
    """A duration string that is not a positive, bounded, Go-style duration."""


def parse_duration(text: object, *, maximum: float = MAX_SECONDS) -> float:
    """Return the number of seconds ``text`` stands for.

    Accepts sequences of ``<integer><unit>`` with units ``ms``, ``s``, ``m``, ``h``, ``d``.
    Rejects empty strings, signs, decimals, exponents, zero and values above ``maximum``.
    """
    if not isinstance(text, str):
        raise DurationError(f"must be a string such as '10m', not {type(text).__name__}")
    value = text.strip()
    if not value:
        raise DurationError("must not be empty")
    if value.startswith("-"):
        raise DurationError(f"{value!r} is negative")
    if not _WHOLE.fullmatch(value):
        raise DurationError(f"{value!r} is not a duration such as '90s', '10m' or '1h30m'")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(value))
    if seconds <= 0:
        raise DurationError(f"{value!r} must be greater than zero")
    if seconds > maximum:
        raise DurationError(f"{value!r} is longer than the maximum of {format_duration(maximum)}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds back in the shortest Go-style form (``600`` -> ``10m``, ``1.5`` -> ``1s500ms``).

    Whole milliseconds are kept, so the text parses back to the value (to the
    millisecond). Raises :class:`DurationError` for anything but a finite, non-negative
    number (NaN, infinity, a negative value, not a number at all).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise DurationError(f"must be a number of seconds, not {type(seconds).__name__}")
    if (isinstance(seconds, float) and not math.isfinite(seconds)) or seconds < 0:
        raise DurationError(f"{seconds!r} is not a finite, non-negative number of seconds")
    whole = int(seconds)  # exact for any finite float; the fraction is then below one second
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    parts: list[str] = []
    remaining = whole
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts) or "0s"
