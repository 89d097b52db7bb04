"""The value parsers every section shares: durations, whole numbers, switches, secret references.

A configuration file is untrusted in the small: a typo must never become a different
setting. So each value is read by one function here that either returns exactly what
was meant or raises :class:`~truenorth.config.settings.ConfigError` naming the setting
(``where``, such as ``repositories[0].poll_interval``). Durations accept Go-style text
(``90s``) or a positive, finite number of seconds, never ``nan`` or ``inf``; whole numbers
refuse ``true`` and ``2.5``; switches are TOML booleans only (the text ``"false"`` is
not false). A section whose keys are misspelled is refused rather than ignored.

Secrets are read by reference only (:func:`secret`): ``<prefix>_env`` names an
environment variable, ``<prefix>_file`` a file; an inline ``<prefix>`` is refused. The
messages name the reference, never the value.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from truenorth.config import settings
from truenorth.core import durations

__all__ = ["array", "duration", "from_env", "known", "secret", "switch", "table", "text", "whole_number"]


def array(raw: Mapping[str, Any], key: str) -> list[Any]:
    """``raw[key]`` as an array of tables (``[[key]]``); absent is empty."""
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise settings.ConfigError(f"{key}: must be an array of tables ([[{key}]])")
    return value


def table(raw: Mapping[str, Any], key: str, *, where: str | None = None) -> dict[str, Any]:
    """``raw[key]`` as a table (``[key]``); absent is empty."""
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise settings.ConfigError(f"{where or key}: must be a table")
    return value


def known(item: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """Refuse keys of ``item`` outside ``allowed``: a misspelled setting is an error, not a default."""
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise settings.ConfigError(f"{where}: unknown setting(s): {', '.join(unknown)}")


def duration(value: Any, where: str) -> float:
    """Seconds from ``"10m"``-style text or a positive, finite number (at most 30 days)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise settings.ConfigError(f"{where}: must be a positive, finite number of seconds")
        if value > durations.MAX_SECONDS:
            raise settings.ConfigError(
                f"{where}: {value!r} is longer than the maximum of "
                f"{durations.format_duration(durations.MAX_SECONDS)}"
            )
        return float(value)
    try:
        return durations.parse_duration(value)
    except durations.DurationError as exc:
        raise settings.ConfigError(f"{where}: {exc}") from None


def whole_number(value: Any, where: str, *, low: int, high: int) -> int:
    """An integer in ``[low, high]`` from a TOML integer or decimal text (``TRUENORTH_*``)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise settings.ConfigError(f"{where}: must be a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise settings.ConfigError(f"{where}: must be a whole number") from None
    if not low <= number <= high:
        raise settings.ConfigError(f"{where}: must be between {low} and {high}")
    return number


def switch(value: Any, where: str) -> bool:
    """A TOML boolean (``true``/``false``): text such as ``"false"`` is refused, never read as true."""
    if not isinstance(value, bool):
        raise settings.ConfigError(f"{where}: must be true or false")
    return value


def text(value: Any, where: str) -> str:
    """A TOML string."""
    if not isinstance(value, str):
        raise settings.ConfigError(f"{where}: must be text")
    return value


def secret(item: Mapping[str, Any], env: Mapping[str, str], where: str, *, prefix: str) -> str | None:
    """The secret ``item`` refers to by ``<prefix>_env`` or ``<prefix>_file``; None when neither."""
    if prefix in item:
        raise settings.ConfigError(
            f"{where}: secrets are given by reference ({prefix}_env or {prefix}_file), never inline"
        )
    if f"{prefix}_env" in item:
        return from_env(env, text(item[f"{prefix}_env"], f"{where}_env"), f"{where}_env")
    if f"{prefix}_file" in item:
        try:
            return Path(text(item[f"{prefix}_file"], f"{where}_file")).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise settings.ConfigError(f"{where}_file: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise settings.ConfigError(f"{where}_file: cannot read: not UTF-8 text") from None
    return None


def from_env(env: Mapping[str, str], name: str, where: str) -> str:
    """The value of the environment variable ``name``, which must be set and not empty."""
    value = env.get(name)
    if not value:
        raise settings.ConfigError(f"{where}: environment variable {name} is not set")
    return value
