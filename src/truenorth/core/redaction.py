"""Masking secrets before anything is stored, logged or shown.

Every string that leaves an engine or git passes through a :class:`Redactor`: it knows
the secret values of the run (sensitive Terraform values, vault passwords, tokens) and
masks them wherever they appear, and it always strips credentials from URLs. The
structural helper :func:`mask_sensitive` applies Terraform-style sensitivity masks
(``before_sensitive``/``after_sensitive``) to JSON values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "REDACTED",
    "SENSITIVE_MARKER",
    "Redactor",
    "mask_sensitive",
    "redact_url_credentials",
    "sensitive_leaves",
]

#: What a masked secret value reads as, in every engine's output.
SENSITIVE_MARKER = "(sensitive value)"
#: What a credential in a URL or a known secret in free text reads as.
REDACTED = "***"

# scheme://user:password@host or scheme://token@host: keep the scheme and host only.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<cred>[^/@\s'\"]+)@")
# Values shorter than this are not masked as free text: masking "a" everywhere would
# destroy the output while protecting nothing that guessing would not find anyway.
_MIN_SECRET_LENGTH = 4


def redact_url_credentials(text: str) -> str:
    """Replace the user-info part of every URL in ``text`` with ``***``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


class Redactor:
    """Masks a set of known secret values, and URL credentials, in text.

    Longer secrets are replaced first so that a secret containing another is masked
    whole. Instances are cheap; engines make one per run and add what they learn.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register more secret values (short or empty ones are ignored)."""
        fresh = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LENGTH}
        # A multi-line secret (a key, a vault file) is also masked line by line, since
        # tools often print one line of it.
        for secret in list(fresh):
            fresh.update(
                line.strip() for line in secret.splitlines() if len(line.strip()) >= _MIN_SECRET_LENGTH
            )
        if fresh - self._secrets:
            self._secrets |= fresh
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    @property
    def secrets(self) -> frozenset[str]:
        """The registered secret values (for handing on to a child redactor)."""
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every known secret and URL credential masked."""
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return redact_url_credentials(text)

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-compatible value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self(str(key)): self.value(item) for key, item in value.items()}
        return value


def mask_sensitive(value: Any, mask: Any) -> Any:
    """Apply a Terraform sensitivity mask to ``value``.

    ``mask`` mirrors the shape of ``value``: ``True`` marks that whole subtree as
    sensitive, a dict or list marks parts of it, anything else marks nothing.
    """
    if mask is True:
        return None if value is None else SENSITIVE_MARKER
    if isinstance(mask, dict) and isinstance(value, dict):
        return {key: mask_sensitive(item, mask.get(key, False)) for key, item in value.items()}
    if isinstance(mask, list) and isinstance(value, list):
        return [
            mask_sensitive(item, mask[index] if index < len(mask) else False)
            for index, item in enumerate(value)
        ]
    return value


def sensitive_leaves(value: Any, mask: Any) -> list[str]:
    """The string forms of every scalar that ``mask`` marks sensitive in ``value``.

    Engines register these with a :class:`Redactor`, so that a sensitive value that
    turns up in free text (an error message, a log line) is masked there too.
    """
    found: list[str] = []
    if mask is True:
        _collect_scalars(value, found)
    elif isinstance(mask, dict) and isinstance(value, dict):
        for key, item in value.items():
            found.extend(sensitive_leaves(item, mask.get(key, False)))
    elif isinstance(mask, list) and isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(sensitive_leaves(item, mask[index] if index < len(mask) else False))
    return found


def _collect_scalars(value: Any, into: list[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _collect_scalars(item, into)
    elif isinstance(value, list):
        for item in value:
            _collect_scalars(item, into)
    elif isinstance(value, bool) or value is None:
        return
    else:
        into.append(str(value))
