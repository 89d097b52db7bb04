"""Credentials inside URLs: finding them and masking them.

A source may be given as ``https://user:token@host/repo``. The token must never show
in an error, a log line or a return value, so every text that leaves the adapter goes
through :func:`redact`. The policy (what in a URL is a credential) is the one of
:mod:`truenorth.texts`, shared with core's redaction and the store: a password or an
``http(s)`` token is masked, an SSH user name such as ``git@`` is not a secret.
"""

from __future__ import annotations

from urllib.parse import unquote

from truenorth import texts

__all__ = ["MASK", "redact", "secrets_in"]

#: What a credential reads as after redaction.
MASK = texts.MASK

# Parts shorter than this are not masked as free text (it would garble the output).
_MIN_SECRET = 4


def redact(text: str) -> str:
    """Mask the credential of every URL in ``text`` (linear time, any input).

    >>> redact("fatal: https://user:token@host/x failed")
    'fatal: https://***@host/x failed'
    >>> redact("fatal: ssh://git@host/x failed")
    'fatal: ssh://git@host/x failed'
    """
    return texts.mask_url_credentials(text)


def secrets_in(url: str) -> tuple[str, ...]:
    """The credential parts of ``url``, raw and percent-decoded, for masking as text.

    Git sometimes prints a credential without its URL around it; masking these values
    everywhere is the second line of defence after :func:`redact`. With a password,
    both the user and the password count (``<token>:x-oauth-basic@`` puts the token
    first); a user alone counts only where it is a token (``http(s)``).
    """
    found_info = texts.url_userinfo(url)
    if found_info is None or not texts.is_secret_userinfo(*found_info):
        return ()
    found: set[str] = set()
    user, _, password = found_info[1].partition(":")
    for part in (user, password):
        for form in (part, unquote(part)):
            if len(form) >= _MIN_SECRET:
                found.add(form)
    return tuple(sorted(found, key=len, reverse=True))
