"""What the controller knows about one tracked repository between reconcile passes.

Held in memory by the running controller (the store keeps runs and stack states; this
keeps what only a live process knows): the newest revision seen on the branch, the last
valid revision and its spec (what stacks are planned from), the current source error,
the wake-up event a webhook sets, and each stack's :class:`~.scheduling.StackTrack`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from truenorth.controller import config as settings
from truenorth.controller import scheduling, sources
from truenorth.core import specs
from truenorth.git import errors as git_errors
from truenorth.git import urls

__all__ = ["RepositoryState", "store_key"]


def store_key(url: str) -> str:
    """The repository key runs and stacks are stored under: the URL without credentials.

    The same key the CLI's one-shot commands use (``Revision.display``), so history
    written by either reads the same.
    """
    try:
        return urls.redact(urls.to_url(url))
    except git_errors.GitError:
        return urls.redact(url)


@dataclass
class RepositoryState:
    """One repository's live state (mutable; touched only on the event loop)."""

    config: settings.RepositoryConfig
    #: Store key (redacted URL).
    key: str
    #: Set by webhooks and actions to run a pass now; the loop clears it when a pass starts.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Forces a remote check in the next pass (a push was received).
    check_requested: bool = True
    #: Newest SHA the remote advertised / the mirror has for the branch.
    remote_sha: str | None = None
    fetched_sha: str | None = None
    #: The newest valid revision and its spec: what stacks are planned from.
    revision: sources.Revision | None = None
    spec: specs.RepoSpec | None = None
    #: The newest revision, refused as invalid (None when the newest is valid).
    invalid_sha: str | None = None
    #: Git cannot be used (unreachable, refusing, no such branch); redacted.
    source_error: str | None = None
    #: The newest revision is invalid, or the branch moved back; redacted.
    revision_error: str | None = None
    last_fetch_at: datetime | None = None
    last_check_at: datetime | None = None
    #: The first pass checked the remote and loaded what it fetched (readiness).
    checked: bool = False
    next_check: float = 0.0
    backoff: scheduling.Backoff = field(default_factory=scheduling.Backoff)
    tracks: dict[str, scheduling.StackTrack] = field(default_factory=dict)
    #: True while a pass runs (for idleness).
    busy: bool = False

    @classmethod
    def of(cls, repo: settings.RepositoryConfig, *, retry: settings.RetryConfig) -> RepositoryState:
        return cls(config=repo, key=store_key(repo.url), backoff=scheduling.Backoff(retry=retry))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def desired_sha(self) -> str | None:
        """The newest revision seen (valid or not)."""
        return self.invalid_sha or (self.revision.sha if self.revision else self.fetched_sha)

    def track(self, stack: str) -> scheduling.StackTrack:
        """The bookkeeping of ``stack`` (created on first use)."""
        found = self.tracks.get(stack)
        if found is None:
            found = self.tracks[stack] = scheduling.StackTrack()
        return found

    def wake_up(self, *, check: bool = True) -> None:
        """Run a pass as soon as possible (``check``: ask the remote too)."""
        if check:
            self.check_requested = True
        self.wake.set()
