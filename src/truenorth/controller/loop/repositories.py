"""What the controller knows about one tracked repository between reconcile passes.

Held in memory by the running controller (the store keeps runs and stack states; this
keeps what only a live process knows): the newest revision seen on the branch, the last
valid revision and its spec (what stacks are planned from), the current source error,
the wake-up event a webhook sets, and each stack's :class:`~.scheduling.StackTrack`.

A tracked repository is its URL *and* its branch (:func:`store_key`): two entries on two
branches of one URL have their own records and engine state, and share only the mirror,
which :func:`states_of` makes them fetch one at a time (one fetch serves both).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from truenorth import config as settings
from truenorth.controller.loop import scheduling
from truenorth.controller.runs import sources
from truenorth.core import specs
from truenorth.git import errors as git_errors
from truenorth.git import mirrors, urls

__all__ = [
    "MAX_PUSHED",
    "RepositoryState",
    "display_url",
    "mirror_key",
    "mirrored_sha",
    "states_of",
    "store_key",
]

#: Pushed SHAs kept between passes and answered SHAs remembered (past it: ask the remote).
MAX_PUSHED = 64


def store_key(url: str, branch: str) -> str:
    """The key runs, stacks and engine state of (``url``, ``branch``) are kept under.

    :func:`urls.repository_key`, the same key the CLI's one-shot commands use
    (``Revision.key``), so history written by either reads the same. A source git
    would refuse keys by its credential-free spelling (it never fetches anyway).
    """
    try:
        return urls.repository_key(url, branch)
    except git_errors.GitError:
        return f"{urls.redact(url).replace('%', '%25').replace('#', '%23')}#{branch}"


def display_url(url: str) -> str:
    """The URL as shown: as written, credentials removed."""
    try:
        return urls.redact(urls.to_url(url))
    except git_errors.GitError:
        return urls.redact(url)


def mirror_key(url: str) -> str:
    """Which mirror ``url`` is fetched into: equal for every spelling of one repository."""
    try:
        return urls.normalize(url)
    except git_errors.GitError:
        return urls.redact(url)


def mirrored_sha(cache: mirrors.MirrorCache, url: str, branch: str) -> str | None:
    """What the mirror already has for ``branch`` (no network; None: no mirror or no branch)."""
    if not cache.mirror_path(url).is_dir():
        return None
    try:
        return cache.resolve(url, f"refs/heads/{branch}")
    except git_errors.GitError:
        return None


def states_of(
    repos: tuple[settings.RepositoryConfig, ...], *, retry: settings.RetryConfig
) -> dict[str, RepositoryState]:
    """The state of each configured repository by name; entries of one URL share one fetch lock."""
    locks: dict[str, asyncio.Lock] = {}
    states = {}
    for repo in repos:
        state = RepositoryState.of(repo, retry=retry)
        state.fetching = locks.setdefault(mirror_key(repo.url), state.fetching)
        states[repo.name] = state
    return states


@dataclass
class RepositoryState:
    """One repository's live state (mutable; touched only on the event loop)."""

    config: settings.RepositoryConfig
    #: Store key: ``<normalized URL>#<branch>`` (:func:`store_key`).
    key: str
    #: The URL as shown (credentials removed).
    display: str = ""
    #: Set by webhooks and actions to run a pass now; the loop clears it when a pass starts.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Forces a remote check in the next pass (a push without a SHA, an action, the start).
    check_requested: bool = True
    #: The SHAs webhooks named since the last check (:meth:`wake_up`).
    pushed: set[str] = field(default_factory=set)
    #: SHAs a webhook named that a fetch has answered already (newest last, bounded).
    answered: dict[str, None] = field(default_factory=dict)
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
    #: Held while the mirror is brought up to date; shared by the entries of one URL, so
    #: the second finds the first one's fetch already brought its branch (one fetch).
    fetching: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def of(cls, repo: settings.RepositoryConfig, *, retry: settings.RetryConfig) -> RepositoryState:
        return cls(
            config=repo,
            key=store_key(repo.url, repo.branch),
            display=display_url(repo.url),
            backoff=scheduling.Backoff(retry=retry),
        )

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

    def wake_up(self, *, check: bool = True, pushed: str | None = None) -> None:
        """Run a pass as soon as possible (``check``: ask the remote too).

        ``pushed``: a webhook named the SHA the branch moved to. The pass then asks the
        remote nothing when that is the SHA it has, or the mirror already has the branch
        there, and fetches once otherwise (no ``ls-remote``): see :meth:`pushed_news`.
        """
        if pushed is not None and len(self.pushed) < MAX_PUSHED:
            self.pushed.add(pushed)
        elif check:
            self.check_requested = True
        self.wake.set()

    def pushed_news(self) -> frozenset[str]:
        """The SHAs pushed since the last check that may be news, and forget them all.

        Not news: the SHA the branch is known at, and one a fetch already answered (a
        flood of webhooks for one commit costs one fetch, then nothing).
        """
        found = frozenset(self.pushed - {self.fetched_sha} - set(self.answered))
        self.pushed.clear()
        return found

    def answer(self, shas: frozenset[str]) -> None:
        """Remember that a fetch answered the pushes of ``shas``."""
        for sha in shas:
            self.answered.pop(sha, None)
            self.answered[sha] = None
        while len(self.answered) > MAX_PUSHED:
            del self.answered[next(iter(self.answered))]
