"""Masking secrets before anything is stored, logged or shown.

Every string that leaves an engine or git passes through a :class:`Redactor`: it knows
the secret values of the run (sensitive Terraform values, vault passwords, tokens) and
masks them wherever they appear, and it always masks credentials in URLs by the one
policy of :func:`truenorth.texts.mask_url_credentials` (a password or an ``http(s)``
token is masked; ``ssh://git@`` is not). The structural helper :func:`mask_sensitive`
applies Terraform-style sensitivity masks (``before_sensitive``/``after_sensitive``) to
JSON values.

Redaction is for what is *shown or stored as text*. What an engine or a cluster
receives (rendered manifests, variables, inventories, plan files) never passes through
here: masking it would apply ``***`` instead of the repository's bytes.

Every step is linear in the length of the text, which may be hostile (a 1 MiB log line,
a long URL path): each known secret is replaced with :meth:`str.replace` (CPython's
search is linear in the worst case), and URL credentials are found in one scan. There
is no regular expression whose backtracking an input could make explode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from truenorth import texts

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
REDACTED = texts.MASK

# Values shorter than this are not masked as free text: masking "a" everywhere would
# destroy the output while protecting nothing that guessing would not find anyway.
_MIN_SECRET_LENGTH = 4


def redact_url_credentials(text: str) -> str:
    """Mask every URL credential in ``text`` (``https://user:token@h`` -> ``https://***@h``).

    A user name alone on a scheme other than ``http(s)`` (``ssh://git@host``,
    ``postgres://app@db``) is not a credential and stays.
    """
    return texts.mask_url_credentials(text)


class Redactor:
    """Masks a set of known secret values, and URL credentials, in text.

    Longer secrets are replaced first so that a secret containing another is masked
    whole. Instances are cheap; engines make one per run and add what they learn. The
    cost of a call is linear in the length of the text for each registered secret.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register more secret values (short or empty ones are ignored).

        A value that holds a line break (a key, a vault file, a file's content with its
        trailing newline) is registered line by line, each line stripped of surrounding
        whitespace: masking never swallows line breaks, so masked text keeps its lines
        (a diff stays a diff, YAML stays YAML), and a tool that prints one line of the
        value has it masked.
        """
        fresh: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str):
                continue
            lines = secret.splitlines()
            # One line is taken as it is; lines of a longer value are stripped.
            candidates = lines if lines == [secret] else [line.strip() for line in lines]
            fresh.update(line for line in candidates if len(line) >= _MIN_SECRET_LENGTH)
        if fresh - self._secrets:
            self._secrets |= fresh
            # One tuple, swapped in whole: a reader in another thread sees the old or the new.
            self._ordered = tuple(sorted(self._secrets, key=lambda s: (-len(s), s)))

    @property
    def secrets(self) -> frozenset[str]:
        """The registered secret values (for handing on to a child redactor)."""
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every known secret and URL credential masked."""
        if not text:
            return text
        for secret in self._ordered:
            text = text.replace(secret, REDACTED)
        return texts.mask_url_credentials(text)

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-compatible value (keys too; other keys are kept)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {
                self(key) if isinstance(key, str) else key: self.value(item) for key, item in value.items()
            }
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
