"""Untrusted text made safe to keep and show: bounded, terminal-safe, URL credentials masked.

Text from a repository (commit subjects, manifests), a webhook, an HTTP request or an
engine's output is written by whoever can push or connect. Three rules hold for all of
it, and this module is their one home, used by every layer (it sits below the adapters,
so ``git`` and ``store`` use it as much as ``core`` and the server do):

* **Bounded where it enters.** :func:`bound` keeps the first ``limit`` characters and
  says how much was cut: ``"... (N more bytes)"`` (N counts UTF-8 bytes).
* **Never raw on a terminal.** :func:`escape_controls` writes ESC, CR and every other
  C0/C1 control character, DEL and the bidirectional overrides (U+202A-U+202E,
  U+2066-U+2069) as visible escapes (``\\x1b``, ``\\r``, ``\\u202e``), so repository text
  cannot move the cursor, rewrite a line, retitle a terminal or reorder what is shown.
* **Credentials in URLs are masked where shown, and only those.** :func:`mask_url_credentials`
  applies the one policy: a user-info with a password (``user:pass@``) is a secret on
  every scheme, a user-info without one is a secret on ``http``/``https`` (a token:
  ``https://<token>@host``), and a plain user name on any other scheme (``ssh://git@``,
  ``postgres://app@db``) is not, and is shown as is.

Everything here is linear in the length of its input, whatever the input: string
methods, ``str.translate``, and regular expressions built so that no match can backtrack
beyond the one URL authority it started in (each is explained where it is defined).
Pure: imports nothing from truenorth.
"""

from __future__ import annotations

import re

__all__ = [
    "MASK",
    "bound",
    "escape_controls",
    "is_secret_userinfo",
    "mask_url_credentials",
    "url_userinfo",
]

#: What a masked credential reads as.
MASK = "***"

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
# What ends the authority part of a URL (RFC 3986, plus what ends a URL in prose: quotes,
# angle brackets, whitespace; a backslash is a path separator to browsers and may end a
# JSON-escaped string). An authority never holds "/", so the authorities after two
# "://" never overlap.
_END = r"/?#\\'\"<>`\x00-\x20\x7f"
# One character class, nothing after it: a match cannot backtrack, so it is linear.
_AUTHORITY = re.compile(f"[^{_END}]*")
# A user-info with a password, on any scheme: the first ":" of the authority comes before
# its last "@". A match starts only at "://" and never leaves that URL's authority, and
# the authorities are disjoint: every attempt together reads the text a bounded number of
# times (linear), and the replacement is done by the regex engine, not per match in Python.
_WITH_PASSWORD = re.compile(f"://(?P<user>[^{_END}:]*):[^{_END}]*@")
# A user-info without a password (those are masked by now) after http:// or https://
# (also git+https://): a token. The same reasoning makes it linear.
_HTTP_TOKEN = re.compile(f"(?P<scheme>https?://)[^{_END}:]+@", re.IGNORECASE)
_HTTP_SCHEMES = frozenset(("http", "https"))
_MASKED = "://" + MASK + "@"

# C0 controls (tab and, unless asked, newline kept), DEL, C1 controls, bidi overrides.
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\x1b": "\\x1b"}
_CONTROL_POINTS = (
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_ESCAPES: dict[int, str] = {
    point: _NAMED.get(chr(point), f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}")
    for point in _CONTROL_POINTS
}
_ESCAPES_KEEP_LINES = {point: text for point, text in _ESCAPES.items() if chr(point) not in "\t\n"}


def bound(text: str, limit: int) -> str:
    """``text`` cut to its first ``limit`` characters, with ``"... (N more bytes)"`` when cut."""
    if limit < 0:
        raise ValueError(f"limit must be zero or more, got {limit}")
    if len(text) <= limit:
        return text
    rest = len(text[limit:].encode("utf-8", "surrogatepass"))
    return f"{text[:limit]}... ({rest} more bytes)"


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with terminal control characters written as visible escapes.

    Tabs stay, and so do newlines unless ``keep_newlines`` is false (one log line must
    stay one line). Printable text, backslashes included, is unchanged.
    """
    return text.translate(_ESCAPES_KEEP_LINES if keep_newlines else _ESCAPES)


def is_secret_userinfo(scheme: str, userinfo: str) -> bool:
    """Whether a URL's user-info is a credential to mask (the policy above)."""
    if not userinfo:
        return False
    if ":" in userinfo:
        return True
    return scheme.lower().rsplit("+", 1)[-1] in _HTTP_SCHEMES


def url_userinfo(url: str) -> tuple[str, str] | None:
    """``(scheme, userinfo)`` of ``url`` when it starts with ``scheme://userinfo@``, else None."""
    marker = url.find("://")
    if marker <= 0 or not url[0].isascii() or not url[0].isalpha():
        return None
    scheme = url[:marker]
    if any(char not in _SCHEME_CHARS for char in scheme):
        return None
    end = _authority_end(url, marker + 3)
    at = url.rfind("@", marker + 3, end)
    if at < 0:
        return None
    return scheme, url[marker + 3 : at]


def mask_url_credentials(text: str, *, keep_user: bool = False) -> str:
    """``text`` with the credential of every URL in it replaced by ``***``.

    ``https://user:token@host`` and ``https://token@host`` read ``https://***@host``;
    ``ssh://git@host`` and ``postgres://app@db`` are unchanged. With ``keep_user`` a
    password alone is masked (``postgres://app:***@db``) where a user name is useful to
    an operator and never a token. The user-info runs to the last ``@`` of the URL's
    authority (an unencoded ``@`` in a password is masked whole).
    """
    if "://" not in text:
        return text
    text = _WITH_PASSWORD.sub(_keep_user if keep_user else _MASKED, text)
    return _HTTP_TOKEN.sub(r"\g<scheme>" + MASK + "@", text)


def _keep_user(match: re.Match[str]) -> str:
    user = match.group("user")
    return f"://{user}:{MASK}@" if user else f"://{MASK}@"


def _authority_end(text: str, start: int) -> int:
    """Index of the first character at or after ``start`` that ends a URL's authority."""
    found = _AUTHORITY.match(text, start)
    return found.end() if found is not None else start
