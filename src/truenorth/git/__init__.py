"""The Git source adapter: the only code in truenorth that talks to git.

Everything above (core, engines, controller) sees Git through :class:`MirrorCache`:
one bare mirror per repository, fetched on demand, and immutable read-only snapshots
of single commits that engines read their stacks from. The adapter sits below core in
the layers, so it carries its own errors (always redacted) and its own URL handling.

Modules: :mod:`.urls` (parse, check, normalize, redact sources), :mod:`.errors`,
:mod:`.commands` (run git safely), :mod:`.commits` (commit metadata), :mod:`.refs`
(which ref strings are accepted), :mod:`.locks` (per-mirror file locks),
:mod:`.trees` (extracting and sealing a snapshot), :mod:`truenorth.paths` (paths and
symlinks that must stay inside a checkout) and :mod:`.mirrors` (the cache itself).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from truenorth.git.commits import Commit
from truenorth.git.errors import GitError, PathEscapeError

if TYPE_CHECKING:
    from truenorth.git.mirrors import MirrorCache

__all__ = ["Commit", "GitError", "MirrorCache", "PathEscapeError"]


def __getattr__(name: str) -> Any:
    """``MirrorCache`` on first use (PEP 562): ``truenorth.git.urls`` alone (the CLI's
    ``validate``) must not import the mirrors and what they need (issue 16)."""
    if name == "MirrorCache":
        return importlib.import_module("truenorth.git.mirrors").MirrorCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
