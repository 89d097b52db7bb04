"""What the controller records about a commit it deploys.

A :class:`Commit` is read from a mirror by :meth:`MirrorCache.commit
<truenorth.git.mirrors.MirrorCache.commit>` and shown in history, run records and
merge-request comments (where it must be escaped: subjects are untrusted text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Commit"]


@dataclass(frozen=True)
class Commit:
    """One commit: full SHA, author, author date (timezone-aware) and subject line."""

    sha: str
    author_name: str
    author_email: str
    date: datetime
    subject: str
