"""Open merge requests and drift announcements outlive a restart and a lease move (issue 14).

A controller used to keep both in memory. After a restart, or once the repository's
lease moved to another replica, a ``/truenorth plan`` comment on a merge request it had
seen answered "no open merge request known here", a merge whose report was awaited was
never reported, and every stack still drifted was announced again. Both are in the store
now (``store/merge_requests.py``, ``store/announcements.py``, migration 0008).

Real parts: a real Git repository, a fake GitHub that is a real HTTP server on 127.0.0.1
(``tests/server/test_merge_requests.py``), an Apprise ``json://`` receiver on 127.0.0.1,
a throwaway PostgreSQL for two in-process replicas (``tests/controller/test_sharing.py``),
SQLite in a data dir for the restarts; the engine is the in-test fake one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.controller.conftest import POLL, CountingCache
from tests.controller.engines import STATE_FILE, FakeEngine
from tests.controller.test_preview_routing import ForgeHarness, deliver
from tests.controller.test_sharing import LEASE, STOP_DEADLINE, owner_and_other
from tests.server.test_merge_requests import TOKEN, FakeGitHub, pull_request
from tests.support import receivers
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.runs import registry
from truenorth.forges import hooks, protocol
from truenorth.notify import subscriptions
from truenorth.store import database

pytestmark = [pytest.mark.slow]

NOT_PLANNED = "Not planned automatically: it comes from a fork"
PLANNED = "| network | terraform |"
APPLIED = "### truenorth apply: infra"
#: Held for approval: a plan after a restart or a takeover never applies the drift away.
DRIFT_SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    drift_interval: 5m
"""


@dataclass
class DurableHarness(ForgeHarness):
    """A :class:`ForgeHarness` whose notices go to ``notices`` (an Apprise ``json://`` URL)."""

    notices: str = ""

    def build(self) -> facade.Controller:
        forge = config.ForgeConfig(
            project=protocol.ForgeSettings(
                kind="github", api_url=self.github, project="org/infra", token=TOKEN
            )
        )
        settings = config.ControllerConfig(
            repositories=(
                config.RepositoryConfig(name="infra", url=self.repo.url, poll_interval=POLL, forge=forge),
            ),
            data_dir=self.data_dir,
            store_url=self.store_url,
            workers=self.workers,
            retry=self.retry,
            notifications=subscriptions.NotificationSettings(
                subscriptions=(subscriptions.Subscription(name="chat", urls=(self.notices,)),)
            ),
        )
        ctl = facade.Controller(
            settings, clock=self.clock, engines=registry.EngineRegistry({"terraform": self.engine})
        )
        self.cache = CountingCache(ctl.runtime.sources.cache)
        ctl.runtime.sources.cache = self.cache  # type: ignore[assignment]
        self.ctl = ctl
        self.app = None
        return ctl

    async def restart(self, *, lease: float | None = None) -> facade.Controller:
        """Stop this controller (if it runs) and start a new one on the same data dir and store."""
        await self.stop()
        ctl = self.build()
        if lease is not None:
            ctl.sharing.lease = lease
        return await self.start()


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub()
    with receivers.receiver(fake.respond) as server:
        yield fake, server.url


@pytest.fixture
def chat() -> Iterator[receivers.Receiver]:
    with receivers.receiver() as receiver:
        yield receiver


def harness_of(
    name: str, *, repo: GitRepo, tmp_path: Path, github: str, chat: receivers.Receiver, store_url: str | None
) -> DurableHarness:
    port = chat.url.rsplit(":", 1)[1]
    return DurableHarness(
        repo=repo,
        data_dir=tmp_path / name,
        engine=FakeEngine(),
        store_url=store_url,
        github=github,
        notices=f"json://127.0.0.1:{port}/",
    )


@pytest.fixture
async def pair(
    repo: GitRepo,
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    github: tuple[FakeGitHub, str],
    chat: receivers.Receiver,
) -> AsyncIterator[tuple[DurableHarness, DurableHarness]]:
    harnesses = tuple(
        harness_of(name, repo=repo, tmp_path=tmp_path, github=github[1], chat=chat, store_url=postgres_url)
        for name in ("a", "b")
    )
    for harness in harnesses:
        harness.build().sharing.lease = LEASE
    yield harnesses[0], harnesses[1]
    for harness in harnesses:
        await asyncio.wait_for(asyncio.shield(harness.stop()), STOP_DEADLINE)


@pytest.fixture
async def single(
    repo: GitRepo, tmp_path: Path, github: tuple[FakeGitHub, str], chat: receivers.Receiver
) -> AsyncIterator[DurableHarness]:
    found = harness_of("data", repo=repo, tmp_path=tmp_path, github=github[1], chat=chat, store_url=None)
    yield found
    await found.stop()


def comment(fake: FakeGitHub, number: int = 7) -> str:
    """The body of truenorth's one comment on merge request ``number``."""
    with fake.lock:
        (only,) = fake.comments.get(number, [])
        return str(only["body"])


def commented(fake: FakeGitHub, text: str, number: int = 7) -> bool:
    with fake.lock:
        return any(text in item["body"] for item in fake.comments.get(number, []))


def feature(repo: GitRepo) -> str:
    """A commit on branch ``feature`` (the merge request's head); ``main`` stays checked out."""
    repo.git("checkout", "-q", "-b", "feature")
    head = repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    repo.git("checkout", "-q", "main")
    return head


def merge_commit(repo: GitRepo) -> str:
    """``feature`` merged on branch ``merged``, not yet on ``main`` (the forge merged it; the
    controller has not fetched it yet)."""
    repo.git("checkout", "-q", "-b", "merged", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "feature")
    sha = repo.head()
    repo.git("checkout", "-q", "main")
    return sha


def land(repo: GitRepo, harness: DurableHarness, sha: str) -> None:
    """Move ``main`` to the merge commit and tell ``harness`` (the push webhook)."""
    repo.git("merge", "-q", "--ff-only", "merged")
    assert repo.head() == sha
    assert harness.ctl is not None
    assert harness.ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main", sha=sha) == ["infra"]


def plan_command() -> hooks.PlanCommand:
    return hooks.PlanCommand(
        forge="github", number=7, base_repo="org/infra", author="grace", author_association="MEMBER"
    )


def merged_event(head: str, merge_sha: str) -> dict[str, Any]:
    return pull_request("closed", head=head, fork=True, merged=True, merge_commit_sha=merge_sha)


def stored(harness: DurableHarness) -> list[tuple[int, str]]:
    assert harness.ctl is not None
    key = harness.ctl.sharing._repos["infra"].key
    return [(item.number, item.state) for item in harness.ctl.store.merge_requests(repositories=[key])]


def titles(chat: receivers.Receiver) -> list[str]:
    return [json.loads(request.body)["title"] for request in chat.requests]


async def drained(harness: DurableHarness) -> None:
    assert harness.ctl is not None
    await harness.settle()
    await harness.ctl.previews.drain()
    notifier = harness.ctl.context.notifications.notifier
    assert notifier is not None
    async with asyncio.timeout(60):
        await notifier.drain()


@pytest.mark.postgres
async def test_a_merge_request_seen_before_a_lease_move_is_previewed_and_reported_by_the_new_owner(
    pair: tuple[DurableHarness, DurableHarness], repo: GitRepo, github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = github
    for harness in pair:
        await harness.start()
    first, second = await owner_and_other(pair)
    assert first.ctl is not None
    head = feature(repo)

    # A fork's merge request: not previewed, the comment asks a maintainer.
    answer = await deliver(first, pull_request("opened", head=head, fork=True), delivery="d-1")
    assert answer.json()["result"] == "not previewed: it comes from a fork", answer.text
    await drained(first)
    assert NOT_PLANNED in comment(fake)
    assert stored(first) == [(7, "open")]

    # The owner stops: the other replica takes the repository over.
    await asyncio.wait_for(first.stop(), STOP_DEADLINE)
    owner, _ = await owner_and_other(pair)
    assert owner is second and second.ctl is not None

    # A maintainer's "/truenorth plan" on the new owner previews what the old one saw.
    assert await second.ctl.merge_request_received(plan_command(), delivery="c-1") == "previewing"
    await drained(second)
    assert fake.states(head, "truenorth/plan") == ["pending", "success"]
    assert PLANNED in comment(fake), "the same comment, now the plan"
    assert ("network", "plan", head) in second.engine.calls

    # Merged; the owner waits for the merge commit to reach main, and moves meanwhile.
    sha = merge_commit(repo)
    answer = await deliver(second, merged_event(head, sha), delivery="d-2")
    assert answer.json()["result"] == "watching the merge", answer.text
    assert stored(second) == [(7, "merged")]
    await first.restart(lease=LEASE)  # the repository's assigned owner is back
    owner, _ = await owner_and_other(pair)
    assert owner is first and first.ctl is not None

    land(repo, first, sha)
    await first.until(lambda: fake.states(sha, "truenorth/apply")[-1:] == ["success"])
    await drained(first)
    assert "success" not in fake.states(sha, "truenorth/apply")[:-1], "reported once"
    body = comment(fake)
    assert APPLIED in body and sha[:12] in body and PLANNED not in body, "the same comment, the result"
    assert stored(first) == [], "reported: forgotten"
    assert ("network", "apply", sha) in first.engine.calls


async def test_a_merge_request_and_its_merge_outlive_a_restart(
    single: DurableHarness, repo: GitRepo, github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = github
    await single.start()
    head = feature(repo)
    answer = await deliver(single, pull_request("opened", head=head, fork=True), delivery="d-1")
    assert answer.json()["result"] == "not previewed: it comes from a fork", answer.text
    await drained(single)
    assert NOT_PLANNED in comment(fake)

    ctl = await single.restart()
    assert await ctl.merge_request_received(plan_command()) == "previewing"
    await drained(single)
    assert fake.states(head, "truenorth/plan") == ["pending", "success"]
    assert PLANNED in comment(fake)

    sha = merge_commit(repo)
    merged = hooks.parse("github", "pull_request", json.dumps(merged_event(head, sha)).encode())
    assert merged is not None
    assert await ctl.merge_request_received(merged) == "watching the merge"
    await single.restart()  # before the merge commit reached main
    land(repo, single, sha)
    await single.until(lambda: fake.states(sha, "truenorth/apply")[-1:] == ["success"])
    await drained(single)
    assert APPLIED in comment(fake) and sha[:12] in comment(fake) and PLANNED not in comment(fake)
    assert stored(single) == []


async def test_a_drift_is_announced_once_per_episode_across_restarts(
    single: DurableHarness, repo: GitRepo, chat: receivers.Receiver
) -> None:
    repo.commit("one stack, drift checked", {"truenorth.yaml": DRIFT_SPEC})
    ctl = await single.start()
    await ctl.approve("network", actor="alice")
    await drained(single)
    state = single.state("network") / STATE_FILE
    good = state.read_text()
    state.write_text(json.dumps({"digest": "changed by hand"}))
    await single.advance(301)
    await drained(single)
    assert titles(chat).count("[truenorth] drift-detected: infra/network") == 1

    for _ in range(2):  # restarted while the drift lasts: announced already
        await single.restart()
        await single.advance(301)
        await drained(single)
    assert single.engine.kinds("network").count(("network", "drift")) >= 1
    assert titles(chat).count("[truenorth] drift-detected: infra/network") == 1

    state.write_text(good)  # resolved, then a new episode after a restart
    await single.advance(301)
    await drained(single)
    assert titles(chat).count("[truenorth] drift-resolved: infra/network") == 1
    state.write_text(json.dumps({"digest": "changed by hand again"}))
    await single.restart()
    await single.advance(301)
    await drained(single)
    await single.restart()
    await single.advance(301)
    await drained(single)
    assert titles(chat).count("[truenorth] drift-detected: infra/network") == 2
    assert titles(chat).count("[truenorth] drift-resolved: infra/network") == 1


@pytest.mark.postgres
async def test_a_drift_announced_before_a_lease_move_is_not_announced_again(
    pair: tuple[DurableHarness, DurableHarness], repo: GitRepo, chat: receivers.Receiver
) -> None:
    repo.commit("one stack, drift checked", {"truenorth.yaml": DRIFT_SPEC})
    for harness in pair:
        await harness.start()
    first, second = await owner_and_other(pair)
    assert first.ctl is not None and second.ctl is not None
    await first.ctl.approve("network", actor="alice")
    await drained(first)
    state = first.state("network") / STATE_FILE
    state.write_text(json.dumps({"digest": "changed by hand"}))
    await first.advance(301)
    await drained(first)
    assert titles(chat).count("[truenorth] drift-detected: infra/network") == 1
    key = first.ctl.sharing._repos["infra"].key
    assert first.ctl.store.drift_announced(repository=key, stack="network")

    # The other replica's engine state says the same drift (the fake engine keeps its state in
    # the data dir): it takes the repository over and checks, and says nothing.
    # (It may not have worked on the stack yet: its state folder is made here then.)
    second.state("network").mkdir(parents=True, exist_ok=True)
    (second.state("network") / STATE_FILE).write_text(state.read_text())
    await asyncio.wait_for(first.stop(), STOP_DEADLINE)
    owner, _ = await owner_and_other(pair)
    assert owner is second
    before = second.engine.kinds("network").count(("network", "drift"))
    await second.advance(301)
    await drained(second)
    assert second.engine.kinds("network").count(("network", "drift")) > before
    assert titles(chat).count("[truenorth] drift-detected: infra/network") == 1
    with database.Store.open(second.ctl.store.url) as store:
        assert store.drift_announced(repository=key, stack="network")


def test_a_stored_merge_request_keeps_the_newest_event_and_refuses_bad_values(tmp_path: Path) -> None:
    key = "https://git.example/org/infra.git#main"
    fields: dict[str, Any] = {
        "state": "open",
        "forge": "github",
        "project": "org/infra",
        "head_repo": "mallory/infra",
        "head_sha": "a" * 40,
        "head_ref": "feature",
        "target_branch": "main",
        "author": "mallory",
        "author_association": "CONTRIBUTOR",
        "title": "t" * 1000,
        "url": "https://github.com/org/infra/pull/7",
        "merge_sha": None,
        "holder": "a",
    }
    with database.Store.open(database.sqlite_url(tmp_path / "data")) as store:
        assert store.put_merge_request(repository=key, number=7, order=5, **fields)
        assert store.note_merge_request_comment(repository=key, number=7, comment_id=2**40)
        older = {**fields, "head_sha": "b" * 40}
        assert not store.put_merge_request(repository=key, number=7, order=4, **older), "older: refused"
        found = store.merge_request(repository=key, number=7)
        assert found is not None and found.head_sha == "a" * 40 and found.last_order == 5
        assert found.comment_id == 2**40 and len(found.title) == 256
        assert store.put_merge_request(repository=key, number=7, order=6, **{**older, "state": "merged"})
        found = store.merge_request(repository=key, number=7)
        assert found is not None and (found.state, found.comment_id) == ("merged", 2**40)
        for bad in ({"state": "closed"}, {"head_sha": "c" * 65}, {"author": "x" * 1025}):
            with pytest.raises(ValueError):
                store.put_merge_request(repository=key, number=8, order=None, **{**fields, **bad})
        assert not store.forget_merge_request(repository=key, number=7, order=5), "an older close"
        assert store.forget_merge_request(repository=key, number=7, order=7)
        assert store.merge_requests(repositories=[key]) == []
