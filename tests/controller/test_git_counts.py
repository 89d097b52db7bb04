"""How much git a push costs the controller: a revision resolved once, no ls-remote for a known SHA.

Every git command the controller starts goes through :func:`truenorth.git.commands.run_git`,
which these tests count by subcommand. A commit's facts never change, so a SHA is
resolved, read and compared once; a webhook that names a SHA the mirror already has
for the branch costs no network at all, and one that names a new SHA one fetch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.conftest import Harness
from truenorth.git import commands


class Gits:
    """The git subcommands started (``rev-parse``, ``fetch``, ``ls-remote``...)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def take(self) -> Counter[str]:
        found, self.seen = Counter(self.seen), []
        return found


@pytest.fixture
def gits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gits]:
    counted = Gits()
    real = commands.run_git

    def counting(args: list[str], **kwargs: Any) -> commands.GitOutput:
        counted.seen.append(args[0])
        return real(args, **kwargs)

    monkeypatch.setattr(commands, "run_git", counting)
    yield counted


async def test_a_pushed_commit_is_resolved_once(harness: Harness, gits: Gits) -> None:
    ctl = await harness.start()
    gits.take()
    sha = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    assert ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main", sha=sha) == ["infra"]
    await harness.settle()
    assert ctl.stack("network").applied_revision == sha
    # One fetch (the webhook named the SHA: no ls-remote), the mirror's branch before
    # and after it, the commit's details, its files, what changed, and where it lies
    # from what was applied: 7 git processes (22 before: 14 rev-parse, 3 merge-base).
    assert gits.take() == Counter(
        {"fetch": 1, "rev-parse": 2, "show": 1, "archive": 1, "diff-tree": 1, "merge-base": 1}
    )


async def test_a_poll_without_a_webhook_asks_the_remote_once(harness: Harness, gits: Gits) -> None:
    ctl = await harness.start()
    gits.take()
    sha = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    assert ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main") == ["infra"]
    await harness.settle()
    assert ctl.stack("network").applied_revision == sha
    found = gits.take()
    assert (found["ls-remote"], found["fetch"], found["merge-base"]) == (1, 1, 1)
    assert found["rev-parse"] <= 2  # the mirror's branch, before and after the fetch


async def test_a_flood_of_webhooks_for_one_sha_fetches_at_most_once(harness: Harness, gits: Gits) -> None:
    ctl = await harness.start()
    sha = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    gits.take()
    assert harness.cache is not None
    ls_remotes = harness.cache.ls_remotes
    for _ in range(200):
        ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main", sha=sha)
        await harness.settle()
    found = gits.take()
    assert found["ls-remote"] + found["fetch"] <= 1
    assert ctl.stack("network").applied_revision == sha
    assert harness.cache.ls_remotes == ls_remotes

    # The SHA is already fetched: another 200 cost no git at all.
    for _ in range(200):
        ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main", sha=sha)
    await harness.settle()
    assert gits.take() == Counter()


async def test_a_webhook_naming_a_sha_is_never_trusted_for_what_to_deploy(
    harness: Harness, gits: Gits
) -> None:
    """The branch is what the remote says: a webhook naming another commit only makes it look."""
    ctl = await harness.start()
    head = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    gits.take()
    bogus = "f" * 40
    ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main", sha=bogus)
    await harness.settle()
    assert ctl.stack("network").applied_revision == head  # fetched: the branch is at head
    assert gits.take()["fetch"] == 1
    ctl.push_received(repository_urls=[harness.repo.url], ref="refs/heads/main", sha=bogus)
    await harness.settle()
    assert gits.take()["fetch"] == 0  # a fetch answered that SHA already
