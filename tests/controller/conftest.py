"""Fixtures of the controller tests: a real Git repository, a controller on a fake clock.

Most tests drive the controller with the in-test :class:`~tests.controller.engines.FakeEngine`
(the engine is not what they test); the ``slow`` ones run the real Terraform engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.controller.engines import FakeEngine
from tests.support import layouts
from tests.support.gitrepos import GitRepo
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks
from truenorth.controller.runs import registry
from truenorth.git import mirrors

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    auto_apply: true
  - name: app
    engine: terraform
    path: stacks/app
    depends_on: [network]
    auto_apply: true
  - name: manual
    engine: terraform
    path: stacks/manual
"""

FILES = {
    "truenorth.yaml": SPEC,
    "stacks/network/main.txt": "network v1\n",
    "stacks/app/main.txt": "app v1\n",
    "stacks/manual/main.txt": "manual v1\n",
}

POLL = 60.0
#: How long settling may take before a test fails. Generous: it waits on events, and real
#: engines (Terraform in test_terraform.py) run slowly on a machine busy with other work.
DEADLINE = 180.0


class CountingCache:
    """Wraps the controller's mirror cache and counts remote operations."""

    def __init__(self, inner: mirrors.MirrorCache) -> None:
        self.inner = inner
        self.fetches = 0
        self.ls_remotes = 0

    def fetch(self, source: str) -> Path:
        self.fetches += 1
        return self.inner.fetch(source)

    def ls_remote(self, source: str, ref: str) -> str | None:
        self.ls_remotes += 1
        return self.inner.ls_remote(source, ref)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Harness:
    """A controller on a fake clock over ``repo``, with helpers to move time and wait."""

    repo: GitRepo
    data_dir: Path
    engine: FakeEngine
    clock: clocks.FakeClock = field(default_factory=clocks.FakeClock)
    retry: config.RetryConfig = field(default_factory=config.RetryConfig)
    url: str | None = None
    workers: int = 2
    ctl: facade.Controller | None = None
    cache: CountingCache | None = None
    #: Engines to use instead of the fake one (the real Terraform engine, say).
    engine_registry: registry.EngineRegistry | None = None
    #: A database URL instead of SQLite in the data dir (PostgreSQL, say).
    store_url: str | None = None

    def build(self) -> facade.Controller:
        settings = config.ControllerConfig(
            repositories=(
                config.RepositoryConfig(name="infra", url=self.url or self.repo.url, poll_interval=POLL),
            ),
            data_dir=self.data_dir,
            store_url=self.store_url,
            workers=self.workers,
            retry=self.retry,
        )
        engines = self.engine_registry or registry.EngineRegistry({"terraform": self.engine})
        ctl = facade.Controller(settings, clock=self.clock, engines=engines)
        self.cache = CountingCache(ctl.runtime.sources.cache)
        ctl.runtime.sources.cache = self.cache  # type: ignore[assignment]
        self.ctl = ctl
        return ctl

    async def start(self) -> facade.Controller:
        ctl = self.ctl or self.build()
        await ctl.start()
        await self.settle()
        return ctl

    async def settle(self) -> None:
        assert self.ctl is not None
        async with asyncio.timeout(DEADLINE):
            await self.ctl.wait_idle()

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await self.settle()

    async def stop(self) -> None:
        if self.ctl is not None:
            await self.ctl.stop()
            self.ctl = None

    def state(self, name: str) -> Path:
        """The engine state folder of stack ``name`` in this harness's data dir."""
        return layouts.state_dir(self.data_dir, self.url or self.repo.url, name)

    def view(self, name: str) -> facade.StackView:
        assert self.ctl is not None
        return self.ctl.stack(name)

    def runs(self, stack: str, **filters: Any) -> list[Any]:
        assert self.ctl is not None
        return list(reversed(self.ctl.store.list_runs(stack=stack, **filters)))

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for ``condition``, re-checked whenever the controller's activity changes."""
        assert self.ctl is not None
        async with asyncio.timeout(DEADLINE):
            await self.ctl.context.activity.wait_until(condition)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    source = GitRepo(tmp_path / "source")
    source.commit("three stacks", FILES)
    return source


@pytest.fixture
async def harness(repo: GitRepo, tmp_path: Path) -> AsyncIterator[Harness]:
    found = Harness(repo=repo, data_dir=tmp_path / "data", engine=FakeEngine())
    yield found
    await found.stop()
