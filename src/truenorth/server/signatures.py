"""Is this webhook really from the forge? Signature and token checks, per provider.

Every forge proves a webhook differently: GitHub signs the raw body with HMAC-SHA256
(``X-Hub-Signature-256: sha256=<hex>``), GitLab sends the shared secret itself
(``X-Gitlab-Token``), Gitea and Forgejo sign the raw body without a prefix
(``X-Gitea-Signature: <hex>``), and truenorth's generic endpoint takes either
``Authorization: Bearer <secret>`` or ``X-Truenorth-Signature: sha256=<hex>``.

The checks are pure (headers, raw bytes and the configured secret in; nothing out but
an exception) and compare in constant time with :func:`hmac.compare_digest`. The raw
bytes are what was signed: re-serialised JSON never verifies. An empty or missing
configured secret refuses every webhook (a blank secret would make any signature
computable by anyone). Callers pass headers with lower-case names.

Any header value and any body get an answer: the only exception :func:`verify` raises
is :class:`~truenorth.server.rejections.RejectedError`, and its one regular expression
(a fixed-length hex digest) is linear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from truenorth.server import rejections

__all__ = ["PROVIDERS", "sign", "verify"]

#: The webhook endpoints truenorth serves, one per provider.
PROVIDERS = ("github", "gitlab", "gitea", "generic")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def sign(secret: str, body: bytes) -> str:
    """The lower-case hex HMAC-SHA256 of ``body`` under ``secret`` (what forges send)."""
    return hmac.new(_utf8(secret), body, hashlib.sha256).hexdigest()


def verify(provider: str, headers: Mapping[str, str], body: bytes, *, secret: str | None) -> None:
    """Raise :class:`~truenorth.server.rejections.RejectedError` unless the delivery is authentic."""
    if not secret:
        raise rejections.RejectedError(403, "webhook secret not configured", outcome="not_configured")
    if provider == "github":
        _check_prefixed(headers.get("x-hub-signature-256"), "X-Hub-Signature-256", secret, body)
    elif provider == "gitlab":
        _check_token(headers.get("x-gitlab-token"), "X-Gitlab-Token", secret)
    elif provider == "gitea":
        given = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature")
        _check_hex(given, "X-Gitea-Signature", secret, body)
    elif provider == "generic":
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _unauthorized("Authorization: expected 'Bearer <webhook secret>'")
            _check_token(token.strip(), "Authorization", secret)
        else:
            _check_prefixed(headers.get("x-truenorth-signature"), "X-Truenorth-Signature", secret, body)
    else:
        raise rejections.RejectedError(404, f"unknown webhook provider {provider!r}", outcome="unknown")


def _check_prefixed(given: str | None, header: str, secret: str, body: bytes) -> None:
    if given is None:
        raise _unauthorized(f"missing {header} header")
    algorithm, sep, digest = given.strip().partition("=")
    if not sep or algorithm.lower() != "sha256":
        raise _unauthorized(f"{header}: expected 'sha256=<hex digest>'")
    _check_hex(digest, header, secret, body)


def _check_hex(given: str | None, header: str, secret: str, body: bytes) -> None:
    if given is None:
        raise _unauthorized(f"missing {header} header")
    digest = given.strip()
    if not _SHA256_HEX.fullmatch(digest):
        raise _unauthorized(f"{header}: not a hex SHA-256 digest")
    expected = sign(secret, body).encode("ascii")
    if not hmac.compare_digest(expected, digest.lower().encode("ascii")):
        raise _unauthorized(f"{header}: signature does not match the body")


def _check_token(given: str | None, header: str, secret: str) -> None:
    if given is None or not given:
        raise _unauthorized(f"missing {header} header")
    # Headers arrive decoded as latin-1: encode back to the bytes that were sent.
    try:
        sent = given.encode("latin-1")
    except UnicodeEncodeError:
        sent = _utf8(given)
    if not hmac.compare_digest(_utf8(secret), sent):
        raise _unauthorized(f"{header}: token does not match")


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8, lone surrogates included (an environment variable holding bytes
    that are not UTF-8 decodes to them): never an encoding error."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _unauthorized(message: str) -> rejections.RejectedError:
    return rejections.RejectedError(401, message, outcome="unauthorized")
