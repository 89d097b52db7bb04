"""Turning "a repository and a ref" into one immutable, validated-on-demand checkout.

Users name a repository by local path or Git URL and a ref by branch, tag or SHA. This
module resolves both through the git adapter's mirror cache: exactly one fetch per
repository per call, then a read-only snapshot per commit that every stack of that
revision shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from truenorth.git import commits, mirrors, urls

__all__ = ["Revision", "Sources"]


@dataclass(frozen=True)
class Revision:
    """One commit of one repository, checked out read-only at ``checkout``."""

    url: str
    #: The URL with credentials removed: what is stored and shown.
    display: str
    ref: str
    sha: str
    commit: commits.Commit
    checkout: Path


class Sources:
    """Resolves and checks out revisions through one mirror cache."""

    def __init__(self, root: Path, *, timeout: float = 120.0) -> None:
        self.cache = mirrors.MirrorCache(root, timeout=timeout)

    def checkout(self, repo: str, *, ref: str | None = None, fetch: bool = True) -> Revision:
        """Fetch ``repo`` once and check out ``ref`` (default: its default branch).

        ``fetch=False`` reuses the mirror as it is (a second revision of a repository
        already fetched in this operation: one fetch per repository).
        """
        url = urls.to_url(repo)
        if fetch:
            self.cache.fetch(url)
        wanted = ref or self.cache.default_branch(url)
        sha = self.cache.resolve(url, wanted)
        return Revision(
            url=url,
            display=urls.redact(url),
            ref=wanted,
            sha=sha,
            commit=self.cache.commit(url, sha),
            checkout=self.cache.snapshot(url, sha),
        )
