"""Signing the generic JSON webhook, and the check a receiver makes (documented for users).

The body is signed together with the time it was sent, so that a recorded delivery
cannot be replayed later: ``X-Truenorth-Timestamp`` is the Unix time in whole seconds,
and ``X-Truenorth-Signature`` is ``sha256=`` followed by the lower-case hex
HMAC-SHA256, under the shared secret, of the bytes ``<timestamp>.<body>`` (the timestamp
as sent, a dot, then the raw body exactly as received, never re-serialised JSON). A
receiver recomputes it, compares in constant time, and refuses a timestamp more than
five minutes from its own clock (:func:`verify` is that receiver, in ten lines, for
tests and for anyone writing one in Python). The scheme is Stripe's and Slack's.

Pure: bytes and text in, a header value or a :class:`SignatureError` out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "TOLERANCE", "SignatureError", "sign", "verify"]

SIGNATURE_HEADER = "X-Truenorth-Signature"
TIMESTAMP_HEADER = "X-Truenorth-Timestamp"
#: How far (seconds) a receiver accepts a timestamp from its own clock, either way.
TOLERANCE = 300
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """A delivery that must be refused: unsigned, tampered with, or too old (a replay)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Truenorth-Signature`` value for ``body`` sent at ``timestamp``."""
    if not secret:
        raise SignatureError("an empty secret signs nothing")
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: int = TOLERANCE
) -> None:
    """Raise :class:`SignatureError` unless ``body`` is signed by ``secret`` within ``tolerance``.

    ``headers`` have lower-case names (as most servers give them).
    """
    given = headers.get(SIGNATURE_HEADER.lower(), "")
    stamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    if not secret:
        raise SignatureError("no secret configured: refuse everything")
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER}")
    if not _SIGNATURE.fullmatch(given):
        raise SignatureError(f"missing or malformed {SIGNATURE_HEADER} (expected sha256=<hex>)")
    if abs(now - int(stamp)) > tolerance:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {tolerance} s away: a replay or a bad clock")
    if not hmac.compare_digest(sign(secret, int(stamp), body).encode(), given.encode()):
        raise SignatureError("the signature does not match the body")
