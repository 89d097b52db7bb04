"""What truenorth asks of a forge, whichever it is: one comment per merge request, commit statuses.

:class:`Forge` is the Protocol the three adapters implement; :class:`ForgeSettings` is
how the configuration names one (kind, API URL, project, token by reference, already
resolved); :func:`connect` makes the adapter. The statuses truenorth sets are
:data:`PLAN_CONTEXT` (on a merge request's head commit) and :data:`APPLY_CONTEXT` (on the
merge commit, once applied), each ``pending`` then ``success`` or ``failure`` with a
link to the stack in the web UI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from truenorth import texts

__all__ = [
    "APPLY_CONTEXT",
    "KINDS",
    "PLAN_CONTEXT",
    "CommitState",
    "CommitStatus",
    "Forge",
    "ForgeSettings",
    "connect",
]

PLAN_CONTEXT = "truenorth/plan"
APPLY_CONTEXT = "truenorth/apply"
#: The forges truenorth speaks to (Forgejo speaks Gitea's API).
KINDS = ("github", "gitlab", "gitea")
_MAX_DESCRIPTION = 140  # GitHub's limit for a status description


class CommitState(enum.StrEnum):
    """A commit status, in GitHub's and Gitea's words (GitLab says ``failed`` for both failures)."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class CommitStatus:
    """One status on one commit: a state, its context, a link and a short description."""

    state: CommitState
    context: str = PLAN_CONTEXT
    target_url: str | None = None
    description: str = ""

    def shown_description(self) -> str:
        """The description as sent: one line, bounded to 140 characters."""
        one_line = " ".join(texts.escape_controls(self.description, keep_newlines=False).split())
        return one_line if len(one_line) <= _MAX_DESCRIPTION else one_line[: _MAX_DESCRIPTION - 3] + "..."

    def link(self) -> str | None:
        """The target URL when it is a web link (never ``javascript:``)."""
        url = self.target_url
        return url if url and url.startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class ForgeSettings:
    """One forge project: ``kind``, the REST API's base URL, the project and a resolved token.

    ``project`` is ``owner/name`` (GitHub, Gitea) or a GitLab project's path or numeric id.
    """

    kind: str
    api_url: str
    project: str
    token: str = field(repr=False)


class Forge(Protocol):
    """A forge adapter."""

    #: The forge's comment size cap (:data:`truenorth.forges.comments.LIMITS`).
    limit: int

    async def upsert_comment(self, number: int, body: str) -> int:
        """Edit truenorth's comment on merge request ``number`` (found by its marker), or add
        it; the comment's id."""
        ...

    async def set_status(self, sha: str, status: CommitStatus) -> None:
        """Set ``status`` on commit ``sha``."""
        ...

    async def close(self) -> None:
        """Release the HTTP client."""
        ...


def connect(settings: ForgeSettings) -> Forge:
    """The adapter for ``settings.kind`` (``github``, ``gitlab``, ``gitea``; Forgejo is ``gitea``)."""
    from truenorth.forges import gitea, github, gitlab

    if settings.kind == "github":
        return github.connect(settings)
    if settings.kind == "gitlab":
        return gitlab.connect(settings)
    if settings.kind == "gitea":
        return gitea.connect(settings)
    raise ValueError(f"unknown forge {settings.kind!r} (known: {', '.join(KINDS)})")
