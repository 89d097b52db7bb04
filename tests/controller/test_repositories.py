"""Several repositories: each has its own loop, pushes wake only theirs, names stay unique."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from truenorth.controller import clocks, config, registry, service
from truenorth.controller.errors import ControllerError

ONE = "stacks:\n  - name: {name}\n    engine: terraform\n    path: s\n    auto_apply: true\n"


async def settle(ctl: service.Controller) -> None:
    async with asyncio.timeout(30):
        await ctl.wait_idle()


def controller(tmp_path: Path, clock: clocks.FakeClock, *repos: tuple[str, str]) -> service.Controller:
    settings = config.ControllerConfig(
        repositories=tuple(config.RepositoryConfig(name=name, url=url) for name, url in repos),
        data_dir=tmp_path / "data",
    )
    return service.Controller(
        settings, clock=clock, engines=registry.EngineRegistry({"terraform": FakeEngine()})
    )


async def test_each_repository_is_reconciled_on_its_own(tmp_path: Path) -> None:
    first, second = GitRepo(tmp_path / "a"), GitRepo(tmp_path / "b")
    first.commit("a", {"truenorth.yaml": ONE.format(name="alpha"), "s/x": "1"})
    second.commit("b", {"truenorth.yaml": ONE.format(name="beta"), "s/x": "1"})
    clock = clocks.FakeClock()
    ctl = controller(tmp_path, clock, ("a", first.url), ("b", second.url))
    try:
        await ctl.start()
        await settle(ctl)
        assert {(v.repository, v.name, v.sync_state) for v in ctl.stacks()} == {
            ("a", "alpha", "synced"),
            ("b", "beta", "synced"),
        }
        old_beta = ctl.stack("beta").applied_revision
        new_alpha = first.commit("a2", {"s/x": "2"})
        second.commit("b2", {"s/x": "2"})
        assert ctl.push_received(repository_urls=[first.url], ref="main") == ["a"]
        await settle(ctl)
        assert ctl.stack("alpha", repository="a").applied_revision == new_alpha
        assert ctl.stack("beta").applied_revision == old_beta  # not woken, not polled yet
    finally:
        await ctl.stop()


async def test_two_repositories_may_both_have_a_stack_of_one_name(tmp_path: Path) -> None:
    first, second = GitRepo(tmp_path / "a"), GitRepo(tmp_path / "b")
    first.commit("a", {"truenorth.yaml": ONE.format(name="same"), "s/x": "1"})
    second.commit("b", {"truenorth.yaml": ONE.format(name="same"), "s/x": "2"})
    clock = clocks.FakeClock()
    ctl = controller(tmp_path, clock, ("a", first.url), ("b", second.url))
    try:
        await ctl.start()
        await settle(ctl)
        assert all(r.source_error is None for r in ctl.repositories())
        assert sorted(v.repository for v in ctl.stacks()) == ["a", "b"]
        assert ctl.stack("same", repository="a").applied_revision == first.head()
        assert ctl.stack("same", repository="b").applied_revision == second.head()
        with pytest.raises(ControllerError) as caught:
            ctl.stack("same")
        assert caught.value.kind == "invalid"
        # Each keeps its own engine state.
        states = sorted((tmp_path / "data" / "state").glob("*/same"))
        assert len(states) == 2
    finally:
        await ctl.stop()


async def test_an_unreachable_repository_at_start_does_not_block_the_others(tmp_path: Path) -> None:
    first = GitRepo(tmp_path / "a")
    first.commit("a", {"truenorth.yaml": ONE.format(name="alpha"), "s/x": "1"})
    clock = clocks.FakeClock()
    ctl = controller(tmp_path, clock, ("a", first.url), ("down", (tmp_path / "missing").as_uri()))
    try:
        await ctl.start()
        await settle(ctl)
        assert ctl.is_ready()  # every repository was checked once
        by_name = {r.name: r for r in ctl.repositories()}
        assert by_name["down"].source_error and by_name["down"].revision is None
        assert ctl.stack("alpha").sync_state == "synced"
        await clock.advance(3600)
        await settle(ctl)  # backs off and parks: no busy loop
        assert by_name["a"].source_error is None
    finally:
        await ctl.stop()


async def test_git_credentials_never_show_in_errors_views_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "tn-git-token-5b9e2d"
    caplog.set_level(logging.DEBUG)
    settings = config.ControllerConfig(
        repositories=(
            config.RepositoryConfig(name="remote", url="http://127.0.0.1:9/org/infra.git", credentials=token),
        ),
        data_dir=tmp_path / "data",
    )
    ctl = service.Controller(settings, clock=clocks.FakeClock(), engines=registry.EngineRegistry({}))
    try:
        await ctl.start()
        await settle(ctl)
        [repository] = ctl.repositories()
        assert repository.source_error  # the remote refuses: shown, without the token
        shown = repr(ctl.repositories()) + repr(ctl.stacks()) + caplog.text
        assert token not in shown
        assert "x-access-token" not in shown
    finally:
        await ctl.stop()
