"""Turning "a repository and a ref" into one immutable, validated-on-demand checkout.

Users name a repository by local path or Git URL and a ref by branch, tag or SHA. This
module resolves both through the git adapter's mirror cache: exactly one fetch per
repository per call, then a read-only snapshot per commit that every stack of that
revision shares.

It also says what a tracked repository *is*: its URL and its branch. Runs, stack
states and engine state (Terraform state, the Kubernetes inventory that drives
pruning) are kept under :func:`repository_key`, ``<normalized URL>#<branch>``, so two
branches of one URL never share them. The mirror stays one per URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from truenorth.git import commits, errors, mirrors, urls

__all__ = ["MIGRATED_BRANCH", "Revision", "Sources"]

#: The branch records written before keys named one (schema 0002) were given, and the
#: one branch whose entry takes over engine state folders named the old way.
MIGRATED_BRANCH = "main"


@dataclass(frozen=True)
class Revision:
    """One commit of one repository, checked out read-only at ``checkout``."""

    url: str
    #: The URL with credentials removed: what is shown to people (never fetched from).
    shown_url: str
    #: What its runs, stack states and engine state are kept under (:func:`repository_key`).
    key: str
    ref: str
    sha: str
    commit: commits.Commit
    checkout: Path

    @property
    def legacy_key(self) -> str | None:
        """The key this repository had before keys named a branch (its credential-free URL).

        Only for the :data:`MIGRATED_BRANCH`, which the 0002 migration gave the old records
        to: its engine state folder named after the old key is taken over on first use.
        """
        return self.shown_url if urls.branch_of(self.key) == MIGRATED_BRANCH else None


class Sources:
    """Resolves and checks out revisions through one mirror cache."""

    def __init__(self, root: Path, *, timeout: float = 120.0) -> None:
        self.cache = mirrors.MirrorCache(root, timeout=timeout)

    def checkout(
        self, repo: str, *, ref: str | None = None, branch: str | None = None, fetch: bool = True
    ) -> Revision:
        """Fetch ``repo`` once and check out ``ref`` (default: its default branch).

        The revision is keyed by the repository's URL and ``branch``; without one, by
        ``ref`` when it names a branch (``main``, ``refs/heads/main``), else (a tag, a
        SHA, no ref) by the repository's default branch. ``fetch=False`` reuses the
        mirror as it is (a second revision of a repository already fetched in this
        operation: one fetch per repository).
        """
        url = urls.to_url(repo)
        if fetch:
            self.cache.fetch(url)
        wanted = ref or self.cache.default_branch(url)
        sha = self.cache.resolve(url, wanted)
        return Revision(
            url=url,
            shown_url=urls.redact(url),
            key=urls.repository_key(url, branch or self._branch(url, wanted)),
            ref=wanted,
            sha=sha,
            commit=self.cache.commit(url, sha),
            checkout=self.cache.snapshot(url, sha),
        )

    def key(self, repo: str, *, branch: str | None = None) -> str:
        """The :func:`repository_key` of ``repo`` on ``branch`` (default: its default branch).

        Without a branch the mirror says which is the default (it is cloned if missing).
        """
        url = urls.to_url(repo)
        return urls.repository_key(url, branch or self.cache.default_branch(url))

    def _branch(self, url: str, ref: str) -> str:
        """``ref`` as a branch name when the mirror has that branch, else the default branch."""
        name = ref.removeprefix("refs/heads/")
        if name != ref or not ref.startswith("refs/"):
            try:
                self.cache.resolve(url, f"refs/heads/{name}")
            except errors.GitError:
                pass
            else:
                return name
        return self.cache.default_branch(url)
