"""Failures stay recorded, visible and contained.

A run never stays ``running`` because something failed before its engine started; the
engine's error is always at the end of the run's log; one stack's failure (or bug)
never cancels its siblings in flight; a refresh obeys the same dependency rule as the
loop; a bug is never answered as a user error; and a database that refuses writes is
shown as such until a write works again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.controller.conftest import POLL, Harness
from truenorth import config
from truenorth.controller.errors import ControllerError
from truenorth.controller.loop import contexts, scheduling
from truenorth.store import database
from truenorth.store.errors import StoreError


class FaultyStore:
    """The controller's real store, with a fault injected into chosen calls."""

    def __init__(self, inner: database.Store) -> None:
        self.inner = inner
        #: method name -> called with the call's keyword arguments before the real call
        self.faults: dict[str, Callable[[dict[str, Any]], None]] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            fault = self.faults.get(name)
            if fault is not None:
                fault(kwargs)
            return attribute(*args, **kwargs)

        return call


WRITES = (
    "start_run", "finish_run", "record_run", "append_log", "upsert_stack", "mark_interrupted",
    "delete_stack", "check_writable",
)  # fmt: skip


def refuse_writes(store: FaultyStore) -> None:
    def refuse(kwargs: dict[str, Any]) -> None:
        raise StoreError("cannot write: the database is read-only [database sqlite:///x]")

    for name in WRITES:
        store.faults[name] = refuse


def faulty(harness: Harness) -> FaultyStore:
    ctl = harness.build()
    store = FaultyStore(ctl.store)
    ctl.runtime.store = ctl.store = store  # type: ignore[assignment]
    return store


def state_dir(harness: Harness, name: str) -> Path:
    """Where the engine keeps stack ``name``'s state (found, not recomputed)."""
    [found] = [path for path in (harness.data_dir / "state").rglob(name) if path.is_dir()]
    return found


def log_text(harness: Harness, run_id: int) -> str:
    assert harness.ctl is not None
    return "\n".join(line for _, line in harness.ctl.store.read_log(run_id))


# ---- a run ends recorded, whatever fails ------------------------------------------------------


async def test_a_failure_before_the_engine_starts_ends_the_plan_run(harness: Harness) -> None:
    ctl = await harness.start()
    folder = state_dir(harness, "network")
    shutil.rmtree(folder)
    folder.write_text("not a folder")  # the run's state dir cannot be made
    harness.engine.calls.clear()

    run_id = await ctl.refresh("network", actor="bob")
    await harness.settle()

    run = ctl.store.get_run(run_id)
    assert run is not None and run.status == "failed"
    assert run.error.startswith("cannot prepare the run: FileExistsError")
    assert harness.view("network").sync_state == "failed"
    assert harness.engine.calls == []
    assert run.error.splitlines()[0] in log_text(harness, run_id)


async def test_a_failure_before_the_engine_starts_ends_the_apply_run(harness: Harness) -> None:
    ctl = await harness.start()
    folder = state_dir(harness, "manual")
    shutil.rmtree(folder)
    folder.write_text("not a folder")

    run_id = await ctl.approve("manual", actor="alice")
    await harness.settle()

    run = ctl.store.get_run(run_id)
    assert run is not None and (run.kind, run.status) == ("apply", "failed")
    assert "FileExistsError" in run.error
    view = harness.view("manual")
    assert view.sync_state != "applying" and not view.busy
    assert [r.status for r in harness.runs("manual") if r.status == "running"] == []


async def test_the_engine_error_is_in_the_log_of_every_failed_try(harness: Harness) -> None:
    harness.retry = config.RetryConfig(initial=5, maximum=180, tries=3)
    await harness.start()
    harness.repo.commit("breaks", {"stacks/network/FAIL_PLAN": "x"})
    await harness.advance(POLL)
    await harness.advance(5)  # the retry

    failed = [run for run in harness.runs("network", kind="plan") if run.status == "failed"]
    assert len(failed) == 2
    for run in failed:
        # The fake engine fails before printing anything, as Terraform does when an input
        # is refused or init is skipped on a retry: the log must still say why.
        text = log_text(harness, run.id)
        assert "truenorth: the plan failed:" in text
        assert "stack network: planning failed on purpose" in text


# ---- one stack's trouble stays its own ----------------------------------------------------------


async def test_a_bug_in_one_stack_does_not_cancel_its_sibling_in_flight(harness: Harness) -> None:
    store = faulty(harness)
    ctl = await harness.start()
    repo = ctl.loops["infra"].repo
    applying = harness.engine.hold("network")
    raised = threading.Event()

    def bug_once_network_applies(kwargs: dict[str, Any]) -> None:
        if kwargs.get("name") == "manual" and not raised.is_set():
            assert applying.wait(60)  # the sibling's apply is in flight
            raised.set()
            raise RuntimeError("an injected bug")

    store.faults["get_stack"] = bug_once_network_applies
    sha = harness.repo.commit(
        "network and manual", {"stacks/network/main.txt": "v2\n", "stacks/manual/main.txt": "v2\n"}
    )
    await harness.clock.advance(POLL)
    # Old code: the bug ended the pass at once and cancelled network's apply with it.
    await harness.until(lambda: raised.is_set() and (repo.tracks["manual"].failed or not repo.busy))
    harness.engine.release("network")
    await harness.settle()

    applies = harness.runs("network", kind="apply")
    assert applies[-1].status == "succeeded" and applies[-1].revision == sha
    assert harness.view("network").applied_revision == sha
    assert repo.tracks["manual"].failed  # counted as a failure: retried with backoff
    del store.faults["get_stack"]
    await harness.advance(5)
    assert harness.view("manual").sync_state == "pending-approval"
    assert harness.view("manual").desired_revision == sha


async def test_refresh_of_a_stack_whose_dependency_failed_is_refused(harness: Harness) -> None:
    harness.retry = config.RetryConfig(initial=5, maximum=180, tries=1)
    ctl = await harness.start()
    harness.repo.commit(
        "network fails, app changes", {"stacks/network/FAIL_APPLY": "x", "stacks/app/main.txt": "app v2\n"}
    )
    await harness.advance(POLL)
    assert harness.view("network").sync_state == "failed"
    assert harness.runs("app", kind="apply")[-1].status == "skipped"
    calls, runs = list(harness.engine.calls), len(harness.runs("app"))

    with pytest.raises(ControllerError) as caught:
        await ctl.refresh("app", actor="bob")
    assert caught.value.kind == "conflict"
    assert "dependency network failed" in caught.value.message
    await harness.settle()
    assert harness.engine.calls == calls  # app was neither planned nor applied
    assert len(harness.runs("app")) == runs
    # The failed stack itself can be refreshed (and fails again, recorded).
    await ctl.refresh("network", actor="bob")
    await harness.settle()
    assert harness.runs("network", kind="apply")[-1].status == "failed"


async def test_a_key_error_is_answered_as_an_internal_error(harness: Harness) -> None:
    store = faulty(harness)
    ctl = await harness.start()

    def bug(kwargs: dict[str, Any]) -> None:
        raise KeyError("some_field")

    store.faults["list_stacks"] = bug
    with pytest.raises(ControllerError) as caught:
        await ctl.refresh("network", actor="bob")
    # A bug, not "that revision cannot be used": the caller is told it is on our side.
    assert (caught.value.kind, caught.value.message) == ("unavailable", "internal error: KeyError")


# ---- the controller's own memory ---------------------------------------------------------------


async def test_the_commit_cache_is_bounded_and_keeps_the_newest(harness: Harness) -> None:
    ctl = await harness.start()
    context = ctl.context
    for n in range(contexts.COMMIT_CACHE + 50):
        context.remember_commit(f"{n:040x}", {"sha": f"{n:040x}"})
    assert len(context.commits) == contexts.COMMIT_CACHE
    assert f"{contexts.COMMIT_CACHE + 49:040x}" in context.commits
    assert f"{0:040x}" not in context.commits


class RacingTracks(dict[str, scheduling.StackTrack]):
    """Tracks whose entries the loop removes between a check and the read that follows it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writers: list[str] = []

    def __contains__(self, key: object) -> bool:
        return True  # "it is there" ... and the loop deletes it right after

    def __setitem__(self, key: str, value: scheduling.StackTrack) -> None:
        self.writers.append(threading.current_thread().name)
        super().__setitem__(key, value)


async def test_views_read_from_other_threads_never_write_loop_state(harness: Harness) -> None:
    ctl = await harness.start()
    repo = ctl.loops["infra"].repo
    racing = RacingTracks({name: track for name, track in repo.tracks.items() if name != "manual"})
    repo.tracks = racing
    views = await asyncio.to_thread(ctl.stacks)  # as the API's thread pool does
    assert {view.name for view in views} == {"network", "app", "manual"}
    assert racing.writers == []
    assert "manual" not in dict(racing)


# ---- a database that refuses writes ---------------------------------------------------------


async def test_a_store_refusing_writes_stays_failing_and_shows_on_every_stack(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    store = faulty(harness)
    ctl = await harness.start()
    refuse_writes(store)
    sha = harness.repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
    caplog.set_level(logging.INFO, logger="truenorth.controller")

    await harness.advance(POLL)
    for _ in range(4):  # the store is probed every 5 s
        await harness.advance(5)

    assert not ctl.is_ready()
    # The probe is a write: reads still work, so a read would say "works again" each time.
    assert "the store works again" not in caplog.text
    for view in ctl.stacks():
        assert view.error is not None and "the state database is failing" in view.error
        assert "read-only" in view.error
    assert harness.view("network").applied_revision != sha

    store.faults.clear()
    await harness.advance(5)
    assert ctl.is_ready()
    assert caplog.text.count("the store works again") == 1
    assert harness.view("network").applied_revision == sha
    assert harness.view("network").error is None


# ---- a refused truenorth.yaml is visible everywhere ------------------------------------------


async def test_a_refused_truenorth_yaml_shows_on_every_stack(harness: Harness) -> None:
    ctl = await harness.start()
    assert {view.source_error for view in ctl.stacks()} == {None}
    bad = harness.repo.commit(
        "broken spec", {"truenorth.yaml": "stacks:\n  - name: network\n    engine: nope\n"}
    )
    await harness.advance(POLL)

    [repository] = ctl.repositories()
    assert (
        repository.source_error is not None and f"revision {bad[:12]} is invalid" in repository.source_error
    )
    views = ctl.stacks()
    assert {view.name for view in views} == {"network", "app", "manual"}  # the last valid revision's
    assert {view.source_error for view in views} == {repository.source_error}
    assert harness.view("network").source_error == repository.source_error
