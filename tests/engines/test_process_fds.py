"""Engine processes in a controller with many descriptors open, and starts that fail half-way.

A controller serving a thousand PostgreSQL sessions holds descriptors past select's
FD_SETSIZE (1024): starting a sandboxed program, and waiting for a survivor, must work
there. And a start that fails after the child exists (the sandbox's pid unreadable, a
bug, a cancel) must leave nothing behind: not bwrap, not the program inside.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from truenorth.core import redaction
from truenorth.engines import processes, sandbox, survivors

#: The first descriptor select() refuses, and where the test wants the next ones.
FD_SETSIZE = 1024
ABOVE = FD_SETSIZE + 40

needs_bwrap = pytest.mark.usefixtures("bwrap")


@pytest.fixture
def crowded() -> Iterator[None]:
    """Every descriptor below ``ABOVE`` taken, so that the next ones opened are past FD_SETSIZE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = ABOVE + 256
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {wanted}: cannot open descriptors past FD_SETSIZE")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held: list[int] = []
    try:
        while not held or held[-1] < ABOVE:
            held.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        probe_read, probe_write = os.pipe()
        os.close(probe_read)
        os.close(probe_write)
        assert probe_read > FD_SETSIZE, "the next pipe is past FD_SETSIZE"
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def confined(argv: list[str], cwd: Path, **kwargs: object) -> processes.ProcessResult:
    return processes.run(
        argv,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
        redactor=redaction.Redactor(),
        sandbox=sandbox.Sandbox(writable=(cwd,)),
        **kwargs,  # type: ignore[arg-type]
    )


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper has ended)."""
    return survivors.identify(pid, program="any") is not None


# ----------------------------------------------------------------- descriptors past FD_SETSIZE


@pytest.mark.slow
@needs_bwrap
@pytest.mark.usefixtures("crowded")
def test_a_sandboxed_program_runs_when_descriptors_pass_fd_setsize(tmp_path: Path) -> None:
    result = confined(["/bin/sh", "-c", "echo confined; echo note > note"], tmp_path)
    assert result.ok, result.describe_failure()
    assert result.sandboxed and result.stdout == "confined\n"
    assert (tmp_path / "note").read_text() == "note\n"


@pytest.mark.slow
@pytest.mark.usefixtures("crowded")
def test_a_survivor_is_waited_for_when_descriptors_pass_fd_setsize() -> None:
    reader = subprocess.Popen(["/bin/cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        record = survivors.identify(reader.pid, program="cat")
        assert record is not None
        # Still running (cat waits for its input): the wait ends at its timeout, with no error.
        assert not survivors.wait_for_exit(record, timeout=0.2)
        assert reader.stdin is not None
        reader.stdin.close()
        assert survivors.wait_for_exit(record, timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()


# ----------------------------------------------------------------- a start that fails half-way


class Failure(RuntimeError):
    """What the test injects right after the sandbox has started."""


@pytest.fixture
def started() -> Iterator[dict[str, int]]:
    """The pids a test saw start (``bwrap``, ``program``); any left alive is killed after it."""
    seen: dict[str, int] = {}
    yield seen
    for pid in seen.values():
        if alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 9)


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("finish_alone", [False, True], ids=["interrupt", "finish-alone"])
def test_a_failure_right_after_the_start_leaves_no_process_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: dict[str, int], finish_alone: bool
) -> None:
    real = processes._sandbox_pid
    marker = f"tn-failed-start-{os.getpid()}-{finish_alone}"

    def read_then_fail(fd: int, proc: subprocess.Popen[bytes]) -> int | None:
        started["bwrap"] = proc.pid
        inner = real(fd, proc)
        assert inner is not None, "bwrap names the program"
        started["program"] = inner
        deadline = time.monotonic() + 60
        while not (tmp_path / "running").exists():  # the program and its own child are up
            assert proc.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.01)
        raise Failure("injected right after the start")

    monkeypatch.setattr(processes, "_sandbox_pid", read_then_fail)
    script = f"setsid sh -c 'exec -a {marker} sleep 300' & touch running; exec sleep 300"
    with pytest.raises(Failure):
        confined(["/bin/sh", "-c", script], tmp_path, finish_alone=finish_alone)

    assert not alive(started["bwrap"]), "bwrap was killed"
    assert not alive(started["program"]), "the program (the sandbox's PID 1) was killed"
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    assert left.stdout == "", "nothing the program started is left"


@pytest.mark.slow
@needs_bwrap
def test_a_sandbox_that_never_names_its_program_is_still_stopped_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: dict[str, int]
) -> None:
    # bwrap said nothing usable: a cancel must not signal bwrap alone and orphan the program.
    real = processes._sandbox_pid

    def unnamed(fd: int, proc: subprocess.Popen[bytes]) -> int | None:
        started["bwrap"] = proc.pid
        inner = real(fd, proc)
        assert inner is not None
        started["program"] = inner
        return None

    monkeypatch.setattr(processes, "_sandbox_pid", unnamed)
    cancel = threading.Event()
    result = confined(
        ["/bin/sh", "-c", "echo go; exec sleep 300"],
        tmp_path,
        finish_alone=True,
        cancel=cancel,
        sink=lambda line: cancel.set(),
    )
    assert result.cancelled
    assert not alive(started["bwrap"]) and not alive(started["program"])
