"""The ``[retry]`` section: how failed plans, applies and fetches are retried.

``initial`` doubling up to ``maximum``, ``tries`` in all (5 s, 3 min, 5 by default);
``TRUENORTH_RETRY_INITIAL``, ``TRUENORTH_RETRY_MAXIMUM`` and ``TRUENORTH_RETRY_TRIES``
override each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from truenorth.config import settings, values

__all__ = ["parse"]

_KEYS = ("initial", "maximum", "tries")


def parse(raw: Mapping[str, Any], env: Mapping[str, str]) -> settings.RetryConfig:
    """The ``[retry]`` table with its variables applied."""
    section = values.table(raw, "retry")
    values.known(section, _KEYS, "retry")
    return settings.RetryConfig(
        initial=values.duration(
            env.get("TRUENORTH_RETRY_INITIAL") or section.get("initial", "5s"), "retry.initial"
        ),
        maximum=values.duration(
            env.get("TRUENORTH_RETRY_MAXIMUM") or section.get("maximum", "3m"), "retry.maximum"
        ),
        tries=values.whole_number(
            env.get("TRUENORTH_RETRY_TRIES") or section.get("tries", 5), "retry.tries", low=1, high=100
        ),
    )
