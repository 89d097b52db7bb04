"""Merge-request webhooks reach the repository's owner replica, and each delivery counts once.

Two in-process controllers (the fake engine, each with its own data dir, a 2 s lease) on
one throwaway PostgreSQL store track a repository whose ``forge`` table points at a
fake GitHub (a real HTTP server on 127.0.0.1 speaking GitHub's REST API). Signed
``pull_request`` deliveries go through the real endpoint (``server/merging.py``) of
either replica. A delivery to the replica that does not own the repository is recorded
in the database and previewed by the owner: one comment, the plan runs recorded by the
owner, nothing fetched or planned by the other. The same delivery sent again, to either
replica, previews nothing more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from tests.controller.conftest import POLL, CountingCache, Harness
from tests.controller.engines import FakeEngine
from tests.controller.test_sharing import LEASE, STOP_DEADLINE, owner_and_other
from tests.server.test_merge_requests import REPO, TOKEN, FakeGitHub, pull_request
from tests.support import receivers
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import previewing
from truenorth.controller.runs import registry
from truenorth.forges import hooks, protocol
from truenorth.server import merging, signatures
from truenorth.store import urls

SECRET = "merge-request-webhook-secret-5e1f"
assert REPO == "/repos/org/infra"


@dataclass
class ForgeHarness(Harness):
    """A :class:`Harness` whose repository has a ``forge`` table (the fake GitHub at ``github``)."""

    github: str = ""
    #: The merge-request endpoint in front of the controller (one, so it remembers deliveries).
    app: FastAPI | None = None

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
        )
        ctl = facade.Controller(
            settings, clock=self.clock, engines=registry.EngineRegistry({"terraform": self.engine})
        )
        self.cache = CountingCache(ctl.runtime.sources.cache)
        ctl.runtime.sources.cache = self.cache  # type: ignore[assignment]
        self.ctl = ctl
        return ctl


@pytest.fixture
def github() -> Any:
    fake = FakeGitHub()
    with receivers.receiver(fake.respond) as server:
        yield fake, server.url


@pytest.fixture
async def pair(
    repo: GitRepo,
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    github: tuple[FakeGitHub, str],
) -> AsyncIterator[tuple[ForgeHarness, ForgeHarness]]:
    harnesses = tuple(
        ForgeHarness(
            repo=repo, data_dir=tmp_path / name, engine=FakeEngine(), store_url=postgres_url, github=github[1]
        )
        for name in ("a", "b")
    )
    for harness in harnesses:
        harness.build().sharing.lease = LEASE
    yield harnesses[0], harnesses[1]
    for harness in harnesses:
        await asyncio.wait_for(asyncio.shield(harness.stop()), STOP_DEADLINE)


async def deliver(harness: ForgeHarness, payload: dict[str, Any], *, delivery: str) -> httpx.Response:
    """POST a signed ``pull_request`` delivery to ``harness``'s merge-request endpoint."""
    assert harness.ctl is not None
    if harness.app is None:
        harness.app = FastAPI()
        harness.app.include_router(merging.router(harness.ctl, secret=SECRET), prefix="/api/v1")
    app = harness.app
    raw = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + signatures.sign(SECRET, raw),
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
        return await client.post("/api/v1/webhooks/merge-requests/github", content=raw, headers=headers)


def merge_requests(store_url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(urls.database_url(store_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT requested_by, taken_by, status, dedup, outcome FROM requests "
                    "WHERE action = 'merge-request' ORDER BY id"
                )
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def plans_at(harness: Harness, sha: str) -> list[str]:
    return [stack for stack, kind, revision in harness.engine.calls if kind == "plan" and revision == sha]


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_merge_request_sent_to_another_replica_is_previewed_once_by_the_owner(
    pair: tuple[ForgeHarness, ForgeHarness],
    repo: GitRepo,
    github: tuple[FakeGitHub, str],
    postgres_url: str,  # noqa: F811
) -> None:
    fake, _ = github
    for harness in pair:
        await harness.start()
    found = await owner_and_other(pair)
    owner, other = (pair[0], pair[1]) if found[0] is pair[0] else (pair[1], pair[0])
    assert owner.ctl is not None and other.ctl is not None
    repo.git("checkout", "-q", "-b", "feature")
    head = repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    repo.git("checkout", "-q", "main")

    previews = owner.ctl.previews

    def previewed(sha: str) -> bool:
        return not previews._running and fake.states(sha, "truenorth/plan")[-1:] == ["success"]

    assert other.cache is not None
    remote_before = (other.cache.fetches, other.cache.ls_remotes)  # it may have held the lease first
    answer = await deliver(other, pull_request("opened", head=head), delivery="d-1")
    assert answer.status_code == 202, answer.text
    assert answer.json()["result"] == "sent to the controller replica that owns infra"
    await owner.until(lambda: previewed(head))

    (comment,) = fake.comments[7]
    assert comment["body"].startswith("<!-- truenorth:plan -->") and TOKEN not in comment["body"]
    assert fake.states(head, "truenorth/plan") == ["pending", "success"]
    planned = plans_at(owner, head)
    assert planned and "network" in planned
    assert plans_at(other, head) == [], "the replica that got the webhook planned nothing"
    assert (other.cache.fetches, other.cache.ls_remotes) == remote_before, "nor fetched"
    runs = [run for run in owner.ctl.store.list_runs(limit=100) if run.revision == head]
    assert {run.holder for run in runs} == {owner.ctl.holder}
    (routed,) = merge_requests(postgres_url)
    assert routed["requested_by"] == other.ctl.holder and routed["taken_by"] == owner.ctl.holder
    assert routed["status"] == "done" and routed["dedup"] == "github:d-1"
    assert routed["outcome"] == {"result": "previewing"}

    # The forge redelivers d-1, to the owner this time, and again to the other: nothing more.
    again = await deliver(owner, pull_request("opened", head=head), delivery="d-1")
    assert (
        again.status_code == 202 and again.json()["result"] == "ignored: delivery already received for infra"
    )
    assert not owner.ctl.previews._running
    twice = await deliver(other, pull_request("opened", head=head), delivery="d-1")
    assert twice.status_code == 202 and twice.json()["duplicate"] is True

    # A new push, delivered to the owner, is previewed there at once; its redelivery to the
    # other replica is a duplicate in the database, never routed.
    repo.git("checkout", "-q", "feature")
    second = repo.commit("network v3", {"stacks/network/main.txt": "network v3\n"})
    repo.git("checkout", "-q", "main")
    answer = await deliver(owner, pull_request("synchronize", head=second), delivery="d-2")
    assert answer.json()["result"] == "previewing"
    await owner.until(lambda: previewed(second))
    again = await deliver(other, pull_request("synchronize", head=second), delivery="d-2")
    assert again.json()["result"] == "ignored: delivery already received for infra"
    await owner.settle()
    assert not owner.ctl.previews._running
    assert [row["dedup"] for row in merge_requests(postgres_url)] == ["github:d-1", "github:d-2"]
    assert fake.states(head, "truenorth/plan") == ["pending", "success"]
    assert fake.states(second, "truenorth/plan") == ["pending", "success"]
    assert plans_at(owner, head) == planned
    assert plans_at(other, head) == plans_at(other, second) == []
    assert (other.cache.fetches, other.cache.ls_remotes) == remote_before
    assert len(fake.comments[7]) == 1, "one comment, edited"

    # An older event of the merge request, arriving late through the database, is ignored.
    stale = hooks.parse("github", "pull_request", json.dumps(pull_request("opened", head=head)).encode())
    assert stale is not None
    done = await owner.ctl.previews.received(stale, among=("infra",), order=1)
    assert done == "ignored: a newer event of this merge request was already acted on"


def test_a_routed_event_carries_the_parsed_event_only_bounded_and_reads_back() -> None:
    event = hooks.MergeRequestEvent(
        forge="github",
        action=hooks.MergeAction.MERGED,
        number=7,
        head_sha="a" * 40,
        head_ref="feature",
        base_ref="main",
        base_repo="org/infra",
        head_repo="org/infra",
        author="ada",
        title="t" * 1000,
        url="https://github.com/org/infra/pull/7",
        author_association="MEMBER",
        merge_sha="b" * 40,
    )
    arguments = previewing.routed(event)
    assert len(arguments["event"]["title"]) == 256
    assert previewing.from_routed(json.loads(json.dumps(arguments))) == hooks.MergeRequestEvent(
        **{**vars(event), "title": "t" * 256}
    )
    command = hooks.PlanCommand(forge="gitlab", number=3, base_repo="org/infra", author="grace")
    assert previewing.from_routed(previewing.routed(command)) == command
    for broken in ({}, {"kind": "event", "event": {"number": 7}}, {"kind": "command", "event": []}):
        with pytest.raises(previewing.RoutingError):
            previewing.from_routed(broken)
    huge = hooks.PlanCommand(forge="github", number=1, base_repo="\x01" * 1024, author="\x02" * 1024 * 2)
    with pytest.raises(previewing.RoutingError, match="too large"):
        previewing.routed(huge)
