"""Crash recovery ends only this data dir's runs, and only after their engines are gone.

``recovery.recover`` is called on a real runtime (store, layout) with runs recorded the
way a killed controller leaves them; the engine a run left behind is a real process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from truenorth.controller.loop import recovery
from truenorth.controller.runs import ownership, runtime
from truenorth.engines import processes, survivors
from truenorth.store import database

REPO = "file:///srv/git/infra#main"
OTHER_INSTANCE = "b" * 32


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[runtime.Runtime]:
    opened = runtime.open_runtime(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def orphans() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes standing for engines a killed controller left; none outlives the test."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def start(rt: runtime.Runtime, stack: str, *, holder: str | None, kind: str = "apply") -> int:
    run_id = rt.store.start_run(stack=stack, repository=REPO, revision="a" * 40, kind=kind, holder=holder)
    if kind == "apply":
        rt.store.upsert_stack(repository=REPO, name=stack, engine="terraform", sync_state="applying")
    return run_id


def leave_engine(
    rt: runtime.Runtime, run_id: int, script: str, orphans: list[subprocess.Popen[bytes]]
) -> survivors.ProcessRecord:
    """Start ``script`` in its own session and record it in the run's folder, as processes.run does."""
    proc = subprocess.Popen(["/bin/sh", "-c", script], start_new_session=True)
    orphans.append(proc)
    record = survivors.identify(proc.pid, program="terraform")
    assert record is not None
    folder = rt.layout.run(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    survivors.write_record(folder / processes.RECORD_FILE, record)
    return record


def test_only_this_data_dirs_runs_are_interrupted(rt: runtime.Runtime) -> None:
    assert rt.holder is not None
    instance = ownership.instance_of(rt.holder)
    previous = start(rt, "network", holder=f"{instance}/old-host:4242")
    legacy = start(rt, "dns", holder="old-host:4242:0a1b2c3d", kind="plan")  # before holders named a data dir
    theirs = start(rt, "app", holder=f"{OTHER_INSTANCE}/other-host:7")  # another controller, shared store

    found = recovery.recover(rt, wait=30)

    assert {(item.stack, item.run_ids) for item in found} == {("network", (previous,)), ("dns", (legacy,))}
    status = {
        run_id: run.status for run_id in (previous, legacy, theirs) if (run := rt.store.get_run(run_id))
    }
    assert status == {previous: "interrupted", legacy: "interrupted", theirs: "running"}
    network = rt.store.get_stack(repository=REPO, name="network")
    app = rt.store.get_stack(repository=REPO, name="app")
    assert network is not None and network.sync_state == "unknown"
    assert network.error is not None and f"run {previous} was interrupted" in network.error
    assert app is not None and app.sync_state == "applying"  # still being applied by its controller


def test_recovery_waits_for_the_engine_a_killed_controller_left(
    rt: runtime.Runtime, orphans: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    run_id = start(rt, "network", holder=rt.holder)
    saved = tmp_path / "state-saved"
    # Interrupted when its controller died, it takes a moment to save its state and exit.
    leave_engine(rt, run_id, f"sleep 1; echo saved > {saved}", orphans)

    [item] = recovery.recover(rt, wait=60)

    assert item.run_ids == (run_id,)
    run = rt.store.get_run(run_id)
    assert run is not None and run.status == "interrupted" and run.finished_at is not None
    assert saved.read_text() == "saved\n"
    assert run.finished_at.timestamp() >= saved.stat().st_mtime  # marked only once it was over
    [(_, note)] = rt.store.read_log(run_id)
    assert "terraform (pid" in note and "was still running when the controller restarted; it ended" in note
    assert not (rt.layout.run(run_id) / processes.RECORD_FILE).exists()


def test_an_engine_still_running_after_the_wait_is_stopped(
    rt: runtime.Runtime, orphans: list[subprocess.Popen[bytes]]
) -> None:
    run_id = start(rt, "network", holder=rt.holder)
    record = leave_engine(rt, run_id, "trap '' INT; sleep 600", orphans)

    recovery.recover(rt, wait=0.5)

    assert not survivors.is_running(record)
    run = rt.store.get_run(run_id)
    assert run is not None and run.status == "interrupted"
    [(_, note)] = rt.store.read_log(run_id)
    assert "stopped it" in note


def test_a_stale_record_of_an_engine_long_gone_is_ignored(rt: runtime.Runtime, tmp_path: Path) -> None:
    run_id = start(rt, "network", holder=rt.holder)
    folder = rt.layout.run(run_id)
    folder.mkdir(parents=True)
    (folder / processes.RECORD_FILE).write_text(
        '{"pid": 999999, "start_ticks": 1, "boot_id": "gone", "program": "terraform"}'
    )
    [item] = recovery.recover(rt, wait=60)
    assert item.run_ids == (run_id,)
    assert rt.store.read_log(run_id) == []
    assert not (folder / processes.RECORD_FILE).exists()


def test_nothing_in_flight_nothing_to_do(rt: runtime.Runtime) -> None:
    done = rt.store.record_run(
        stack="network", repository=REPO, revision="a" * 40, kind="apply", status="succeeded"
    )
    assert recovery.recover(rt, wait=1) == []
    run = rt.store.get_run(done)
    assert run is not None and run.status == "succeeded"
    with database.Store.open(database.sqlite_url(rt.layout.root)) as store:
        assert store.list_runs(status="running") == []
