"""Credentials inside URLs: finding them and masking them.

A source may be given as ``https://user:token@host/repo``. The token must never show
in an error, a log line or a return value, so every text that leaves the adapter goes
through :func:`redact`. This is the adapter's own copy of the idea in core's redaction
(the adapter sits below core and cannot import it).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["MASK", "redact", "secrets_in"]

#: What a credential reads as after redaction.
MASK = "***"

# scheme://<userinfo>@ : the userinfo may itself hold '@' (an unencoded password), so
# take everything up to the last '@' before the first '/' or whitespace.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<cred>[^/\s'\"<>]+)@")
# Parts shorter than this are not masked as free text (it would garble the output).
_MIN_SECRET = 4


def redact(text: str) -> str:
    """Replace the user-info part of every URL in ``text`` with ``***``.

    >>> redact("fatal: https://user:token@host/x failed")
    'fatal: https://***@host/x failed'
    """
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def secrets_in(url: str) -> tuple[str, ...]:
    """The user and password of ``url``, raw and percent-decoded, for masking as text.

    Git sometimes prints a credential without its URL around it; masking these values
    everywhere is the second line of defence after :func:`redact`.
    """
    match = _USERINFO.match(url)
    if match is None:
        return ()
    found: set[str] = set()
    user, _, password = match.group("cred").partition(":")
    for part in (user, password):
        for form in (part, unquote(part)):
            if len(form) >= _MIN_SECRET:
                found.add(form)
    return tuple(sorted(found, key=len, reverse=True))
