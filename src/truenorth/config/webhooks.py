"""The ``[webhooks]`` section: the shared secret that signs push webhooks.

Given by ``secret_env`` or ``secret_file`` (never inline), or by
``TRUENORTH_WEBHOOK_SECRET``, which wins. Without one, webhooks are refused and changes
arrive by polling (``truenorth serve`` warns at start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from truenorth.config import values

__all__ = ["parse"]

#: ``secret`` is known so that an inline secret is refused as such, not as a typo.
_KEYS = ("secret", "secret_env", "secret_file")


def parse(raw: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """The webhook secret, or None when none is configured."""
    section = values.table(raw, "webhooks")
    values.known(section, _KEYS, "webhooks")
    from_variable = env.get("TRUENORTH_WEBHOOK_SECRET")
    if from_variable and "secret" not in section:  # an inline secret is refused all the same
        return from_variable
    return values.secret(section, env, "webhooks.secret", prefix="secret") or None
