"""The ``[[tokens]]`` section: API bearer tokens by reference, each with a role.

A token is given by ``token_env`` or ``token_file`` (never inline), is at least 16
characters long and has a role, ``viewer``, ``operator`` or ``admin``
(:data:`~truenorth.config.settings.ROLES`); its ``name`` is recorded as the actor of
what it does. ``TRUENORTH_TOKEN`` adds one more, with the admin role (the quick start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from truenorth.config import settings, values

__all__ = ["MIN_LENGTH", "parse"]

#: The shortest token accepted: a guessable token is no token.
MIN_LENGTH = 16
#: ``token`` is known so that an inline token is refused as such, not as a typo.
_KEYS = ("name", "role", "token", "token_env", "token_file")


def parse(raw: Mapping[str, Any], env: Mapping[str, str]) -> tuple[settings.TokenConfig, ...]:
    """Every ``[[tokens]]`` entry, then the ``TRUENORTH_TOKEN`` admin token if set."""
    tokens = [_entry(item, env, index) for index, item in enumerate(values.array(raw, "tokens"))]
    if env.get("TRUENORTH_TOKEN"):
        tokens.append(
            settings.TokenConfig(name="admin (TRUENORTH_TOKEN)", role="admin", token=env["TRUENORTH_TOKEN"])
        )
    return tuple(tokens)


def _entry(item: Any, env: Mapping[str, str], index: int) -> settings.TokenConfig:
    where = f"tokens[{index}]"
    if not isinstance(item, dict):
        raise settings.ConfigError(f"{where}: must be a table")
    values.known(item, _KEYS, where)
    role = item.get("role")
    if role not in settings.ROLES:
        raise settings.ConfigError(f"{where}.role: must be one of {', '.join(settings.ROLES)}")
    value = values.secret(item, env, f"{where}.token", prefix="token")
    if not value or len(value) < MIN_LENGTH:
        raise settings.ConfigError(
            f"{where}: token_env or token_file must give a token of at least {MIN_LENGTH} characters"
        )
    name = values.text(item.get("name", f"token-{index}"), f"{where}.name")
    return settings.TokenConfig(name=name, role=str(role), token=value)
