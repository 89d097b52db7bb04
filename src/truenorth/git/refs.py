"""Which ref strings the adapter accepts, and where it looks for them.

A ref comes from an operator's config or a webhook: a branch, a tag, a full or
abbreviated SHA. Anything else (rev expressions like ``main~1`` or ``@{-1}``, option
lookalikes such as ``--upload-pack=...``, control characters) is refused before git
sees it. Branches are looked up before tags so that pushing a tag named like a
tracked branch cannot redirect what is deployed.
"""

from __future__ import annotations

import re

from truenorth.git import errors

__all__ = ["candidates", "check_ref", "is_full_sha"]

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_FORBIDDEN = ("..", "@{", "~", "^", ":", "?", "*", "[", "\\", "//")
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MAX_LENGTH = 1024


def check_ref(ref: str) -> str:
    """Return ``ref`` if it may name a branch, tag or commit; else raise GitError."""
    if not ref:
        raise errors.GitError("ref is empty")
    if ref.startswith("-"):
        raise errors.GitError(f"ref {ref!r} starts with '-' (git would read it as an option)")
    if _CONTROL.search(ref):
        raise errors.GitError(f"ref {ref!r} contains whitespace or control characters")
    if len(ref) > _MAX_LENGTH:
        raise errors.GitError(f"ref is longer than {_MAX_LENGTH} characters")
    bad = [part for part in _FORBIDDEN if part in ref]
    if bad or ref.startswith("/") or ref.endswith(("/", ".", ".lock")):
        raise errors.GitError(f"ref {ref!r} is not a branch, tag or commit name")
    return ref


def is_full_sha(ref: str) -> bool:
    """True for a full SHA-1 or SHA-256 object name in lower case."""
    return _FULL_SHA.fullmatch(ref) is not None


def candidates(ref: str) -> list[str]:
    """The full names to try for ``ref``, in order: branch, tag, then object name."""
    check_ref(ref)
    if ref == "HEAD" or ref.startswith("refs/"):
        return [ref]
    found = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    if _HEX.fullmatch(ref):
        found.append(ref.lower())
    return found
