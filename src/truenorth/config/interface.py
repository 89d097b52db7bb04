"""The ``[ui]`` section: how the web UI's browser sessions are served.

``secure_cookies = true`` (or ``TRUENORTH_SECURE_COOKIES=true``, which wins) says that
browsers reach truenorth over HTTPS although truenorth itself serves plain HTTP: a
TLS-terminating proxy in front of it. The session cookie then always carries ``Secure``,
and the page's origin is taken as ``https://HOST`` for the login and CSRF checks.
truenorth does not read ``X-Forwarded-Proto`` (any client could send it), so without
the setting it sees plain HTTP and leaves ``Secure`` off. Served over TLS directly,
cookies are ``Secure`` whatever the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from truenorth.config import settings, values

__all__ = ["ENV_SECURE_COOKIES", "secure_cookies"]

ENV_SECURE_COOKIES = "TRUENORTH_SECURE_COOKIES"
_KEYS = ("secure_cookies",)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def secure_cookies(raw: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """Whether session cookies are always ``Secure``: the variable, else ``[ui] secure_cookies``."""
    section = values.table(raw, "ui")
    values.known(section, _KEYS, "ui")
    variable = env.get(ENV_SECURE_COOKIES, "").strip().lower()
    if variable in _TRUE:
        return True
    if variable in _FALSE:
        return False
    if variable:
        raise settings.ConfigError(f"{ENV_SECURE_COOKIES}: must be true or false")
    return values.switch(section.get("secure_cookies", False), "ui.secure_cookies")
