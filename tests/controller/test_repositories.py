"""Several repositories: each has its own loop, pushes wake only theirs, names stay unique.

A repository is its URL and its branch: two branches of one URL are two repositories with
their own runs, stack states and engine state, sharing one mirror (one fetch).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import logging
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.conftest import CountingCache
from tests.controller.engines import FakeEngine, read_state
from tests.support.gitrepos import GitRepo
from tests.support.layouts import state_dir
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.errors import ControllerError
from truenorth.controller.loop import clocks
from truenorth.controller.runs import registry

ONE = "stacks:\n  - name: {name}\n    engine: terraform\n    path: s\n    auto_apply: true\n"


async def settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(30):
        await ctl.wait_idle()


def controller(tmp_path: Path, clock: clocks.FakeClock, *repos: tuple[str, str]) -> facade.Controller:
    settings = config.ControllerConfig(
        repositories=tuple(config.RepositoryConfig(name=name, url=url) for name, url in repos),
        data_dir=tmp_path / "data",
    )
    return facade.Controller(
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
    ctl = facade.Controller(settings, clock=clocks.FakeClock(), engines=registry.EngineRegistry({}))
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


# ---------------------------------------------------------------- two branches of one URL


def two_branches(tmp_path: Path) -> tuple[GitRepo, str, str]:
    """One URL whose ``main`` and ``staging`` both declare a stack called ``same``."""
    repo = GitRepo(tmp_path / "src")
    main = repo.commit("main", {"truenorth.yaml": ONE.format(name="same"), "s/x": "main 1"})
    repo.git("checkout", "-q", "-b", "staging")
    staging = repo.commit("staging", {"s/x": "staging 1"})
    repo.git("checkout", "-q", "main")
    return repo, main, staging


def branch_controller(
    tmp_path: Path, clock: clocks.FakeClock, url: str
) -> tuple[facade.Controller, CountingCache]:
    settings = config.ControllerConfig(
        repositories=(
            config.RepositoryConfig(name="prod", url=url, branch="main"),
            config.RepositoryConfig(name="stage", url=url, branch="staging"),
        ),
        data_dir=tmp_path / "data",
    )
    ctl = facade.Controller(
        settings, clock=clock, engines=registry.EngineRegistry({"terraform": FakeEngine()})
    )
    counting = CountingCache(ctl.runtime.sources.cache)
    ctl.runtime.sources.cache = counting  # type: ignore[assignment]
    return ctl, counting


async def test_two_branches_of_one_url_keep_their_own_runs_states_and_engine_state(tmp_path: Path) -> None:
    repo, main, staging = two_branches(tmp_path)
    ctl, counting = branch_controller(tmp_path, clocks.FakeClock(), repo.url)
    try:
        await ctl.start()
        await settle(ctl)
        assert ctl.stack("same", repository="prod").applied_revision == main
        assert ctl.stack("same", repository="stage").applied_revision == staging
        # One mirror per URL: the second branch found the first one's fetch had brought it.
        assert counting.fetches == 1
        keys = {r.name: r.store_key for r in ctl.repositories()}
        assert keys["prod"] != keys["stage"]
        assert {r.name: (r.url, r.branch) for r in ctl.repositories()} == {
            "prod": (repo.url, "main"),
            "stage": (repo.url, "staging"),
        }
        assert {run.revision for run in ctl.store.list_runs(repository=keys["prod"])} == {main}
        assert {run.revision for run in ctl.store.list_runs(repository=keys["stage"])} == {staging}
        prod_state = state_dir(tmp_path / "data", repo.url, "same", branch="main")
        stage_state = state_dir(tmp_path / "data", repo.url, "same", branch="staging")
        assert prod_state != stage_state
        assert read_state(prod_state)["revision"] == main
        assert read_state(stage_state)["revision"] == staging

        # A push to staging wakes the staging entry alone; main stays where it is.
        repo.git("checkout", "-q", "staging")
        newer = repo.commit("staging 2", {"s/x": "staging 2"})
        repo.git("checkout", "-q", "main")
        assert ctl.push_received(repository_urls=[repo.url], ref="refs/heads/staging") == ["stage"]
        await settle(ctl)
        assert ctl.stack("same", repository="stage").applied_revision == newer
        assert ctl.stack("same", repository="prod").applied_revision == main
        assert read_state(prod_state)["revision"] == main
        assert counting.fetches == 2
    finally:
        await ctl.stop()


# ---------------------------------------------------------------- spellings of a URL


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args


@contextlib.contextmanager
def dumb_http(root: Path) -> Iterator[str]:
    """Serve the bare repositories under ``root`` over Git's dumb HTTP protocol; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def served(source: GitRepo, root: Path, path: str) -> None:
    bare = root / path
    subprocess.run(["git", "clone", "-q", "--bare", str(source.path), str(bare)], check=True)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)


@pytest.mark.slow
async def test_urls_differing_only_in_path_case_are_two_repositories(tmp_path: Path) -> None:
    """``/Org/Infra.git`` and ``/org/infra.git`` are two repositories on this server: two mirrors."""
    upper, lower = GitRepo(tmp_path / "upper"), GitRepo(tmp_path / "lower")
    upper.commit("upper", {"truenorth.yaml": ONE.format(name="upper"), "s/x": "1"})
    lower.commit("lower", {"truenorth.yaml": ONE.format(name="lower"), "s/x": "1"})
    root = tmp_path / "http"
    served(upper, root, "Org/Infra.git")
    served(lower, root, "org/infra.git")
    with dumb_http(root) as base:
        ctl = controller(
            tmp_path, clocks.FakeClock(), ("a", f"{base}/Org/Infra.git"), ("b", f"{base}/org/infra.git")
        )
        try:
            await ctl.start()
            await settle(ctl)
            assert all(r.source_error is None for r in ctl.repositories()), ctl.repositories()
            assert ctl.stack("upper", repository="a").applied_revision == upper.head()
            assert ctl.stack("lower", repository="b").applied_revision == lower.head()
            keys = [r.store_key for r in ctl.repositories()]
            assert len(set(keys)) == 2
            cache = ctl.runtime.sources.cache
            assert cache.mirror_path(f"{base}/Org/Infra.git") != cache.mirror_path(f"{base}/org/infra.git")
            # The host's case never makes another repository: same mirror, same key.
            shouting = f"{base.replace('localhost', 'LOCALHOST')}/Org/Infra.git"
            assert cache.mirror_path(shouting) == cache.mirror_path(f"{base}/Org/Infra.git")
        finally:
            await ctl.stop()
