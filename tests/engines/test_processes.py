"""Running engine programs: output to files, interrupted with their parent, recorded, private.

The crash tests start a real Python process that runs a real shell script through
:func:`processes.run`, SIGKILL that process mid-run, and watch what the script does next.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from truenorth.core import redaction
from truenorth.engines import processes, survivors

DEADLINE = 60.0

# Runs one program through processes.run and waits; the test SIGKILLs it mid-run.
DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from truenorth.core import redaction
    from truenorth.engines import processes
    script, record = sys.argv[1], Path(sys.argv[2])
    alone = len(sys.argv) > 3 and sys.argv[3] == "finish-alone"
    processes.run(["/bin/sh", script], cwd=Path(script).parent, env={"PATH": "/usr/bin:/bin"},
                  timeout=600, redactor=redaction.Redactor(), sink=lambda line: None, record=record,
                  finish_alone=alone)
    """
)


def wait_for(condition: object, *, what: str, deadline: float = DEADLINE) -> None:
    assert callable(condition)
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def driven(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Driver processes started by a test; none outlives it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def drive(
    tmp_path: Path, script: str, started: list[subprocess.Popen[bytes]], *, finish_alone: bool = False
) -> Path:
    """Start the driver on ``script``; return the record file it names."""
    path = tmp_path / "script.sh"
    path.write_text(textwrap.dedent(script))
    record = tmp_path / processes.RECORD_FILE
    mode = ["finish-alone"] if finish_alone else []
    started.append(subprocess.Popen([sys.executable, "-c", DRIVER, str(path), str(record), *mode]))
    return record


def run(argv: list[str], cwd: Path, **kwargs: object) -> processes.ProcessResult:
    return processes.run(
        argv,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        redactor=redaction.Redactor(["s3cret"]),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.slow
def test_a_program_keeps_writing_after_its_parent_is_killed(
    tmp_path: Path, driven: list[subprocess.Popen[bytes]]
) -> None:
    # Ignores the interrupt, like a Terraform finishing its last resource and saving state:
    # what it prints then must not kill it (a pipe to a dead parent would: SIGPIPE).
    gate = tmp_path / "gate"
    drive(
        tmp_path,
        f"""\
        trap '' INT
        echo started > {tmp_path}/started
        while [ ! -e {gate} ]; do sleep 0.02; done
        i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done
        echo saved > {tmp_path}/saved
        """,
        driven,
    )
    wait_for((tmp_path / "started").exists, what="the script to start")
    driven[0].send_signal(signal.SIGKILL)
    driven[0].wait(timeout=30)
    gate.touch()
    wait_for((tmp_path / "saved").exists, what="the orphaned script to finish writing")


@pytest.mark.slow
def test_a_program_is_interrupted_when_its_parent_dies_and_can_be_waited_for(
    tmp_path: Path, driven: list[subprocess.Popen[bytes]]
) -> None:
    record_file = drive(
        tmp_path,
        f"""\
        trap 'echo interrupted > {tmp_path}/interrupted; exit 130' INT
        echo started > {tmp_path}/started
        while true; do sleep 0.02; done
        """,
        driven,
    )
    wait_for((tmp_path / "started").exists, what="the script to start")
    record = survivors.read_record(record_file)
    assert record is not None and record.program == "sh"
    assert survivors.is_running(record)
    assert record.pid != driven[0].pid

    driven[0].send_signal(signal.SIGKILL)
    driven[0].wait(timeout=30)
    # Not our child: waited for through its pidfd / /proc, as crash recovery does.
    assert survivors.wait_for_exit(record, timeout=DEADLINE)
    assert (tmp_path / "interrupted").read_text() == "interrupted\n"
    assert not survivors.is_running(record)


@pytest.mark.slow
def test_a_program_that_finishes_alone_is_not_interrupted_when_its_parent_dies(
    tmp_path: Path, driven: list[subprocess.Popen[bytes]]
) -> None:
    # terraform apply: its provisioner must complete and its state be saved, not be cut.
    gate = tmp_path / "gate"
    record_file = drive(
        tmp_path,
        f"""\
        trap 'echo interrupted > {tmp_path}/interrupted; exit 130' INT
        echo started > {tmp_path}/started
        while [ ! -e {gate} ]; do sleep 0.02; done
        echo finished > {tmp_path}/finished
        """,
        driven,
        finish_alone=True,
    )
    wait_for((tmp_path / "started").exists, what="the script to start")
    record = survivors.read_record(record_file)
    assert record is not None
    driven[0].send_signal(signal.SIGKILL)
    driven[0].wait(timeout=30)
    gate.touch()
    assert survivors.wait_for_exit(record, timeout=DEADLINE)
    assert (tmp_path / "finished").read_text() == "finished\n"
    assert not (tmp_path / "interrupted").exists()


def test_the_record_names_the_program_while_it_runs_and_is_removed_after(tmp_path: Path) -> None:
    record_file = tmp_path / processes.RECORD_FILE
    seen: list[survivors.ProcessRecord | None] = []

    gate = tmp_path / "go"

    def sink(line: str) -> None:
        seen.append(survivors.read_record(record_file))
        gate.touch()  # only now may the program end: it is alive while it is recorded

    # The program waits for the gate, so however busy the machine, it has not exited
    # (and is not a zombie) when the record is written.
    script = f"echo $$; while [ ! -e {gate} ]; do sleep 0.01; done"
    result = run(["/bin/sh", "-c", script], tmp_path, sink=sink, record=record_file)
    assert result.ok
    [record] = seen
    assert record is not None and record.pid == int(result.stdout)
    assert not record_file.exists()


def test_what_a_program_writes_is_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # what a shell usually gives
    try:
        result = run(["/bin/sh", "-c", "echo x > file; mkdir folder"], tmp_path)
    finally:
        os.umask(previous)
    assert result.ok
    assert stat.S_IMODE((tmp_path / "file").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o700


def test_output_reaches_the_sink_line_by_line_redacted_and_the_result_whole(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run(
        ["/bin/sh", "-c", "printf 'one s3cret\\r\\ntwo\\nthree'; echo err >&2"], tmp_path, sink=lines.append
    )
    assert lines == ["one ***", "two", "three"]
    assert result.stdout == "one ***\ntwo\nthree"
    assert result.stderr == "err\n"


def test_data_output_is_verbatim_and_never_streamed(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run(["/bin/sh", "-c", "echo 'key: s3cret'"], tmp_path, sink=lines.append, stdout_is_data=True)
    assert result.stdout == "key: s3cret\n"
    assert lines == []


def test_a_failing_sink_does_not_stop_the_program(tmp_path: Path) -> None:
    def sink(line: str) -> None:
        raise RuntimeError("the run log is unavailable")

    result = run(["/bin/sh", "-c", "echo a; echo b; echo done > marker"], tmp_path, sink=sink)
    assert result.ok and result.stdout == "a\nb\n"
    assert (tmp_path / "marker").read_text() == "done\n"


def test_missing_and_unusable_programs_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(processes.ProgramMissing, match="no-such-tool is not installed"):
        run(["no-such-tool", "version"], tmp_path)
    with pytest.raises(processes.ProgramMissing):
        run([str(tmp_path / "absent")], tmp_path)
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        run([str(plain)], tmp_path)
    with pytest.raises(PermissionError):
        run([str(tmp_path)], tmp_path)
    tool = tmp_path / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho relative\n")
    tool.chmod(0o700)
    assert run(["./bin/tool"], tmp_path).stdout == "relative\n"


def test_a_cancelled_program_is_stopped_and_its_record_removed(tmp_path: Path) -> None:
    cancel = threading.Event()
    record_file = tmp_path / processes.RECORD_FILE

    def sink(line: str) -> None:
        cancel.set()

    result = run(
        ["/bin/sh", "-c", "trap 'exit 130' INT; echo go; while :; do sleep 0.05; done"],
        tmp_path,
        sink=sink,
        cancel=cancel,
        record=record_file,
    )
    assert result.cancelled and not result.ok
    assert not record_file.exists()


def test_a_cancel_interrupts_first_so_the_program_can_stop_cleanly(tmp_path: Path) -> None:
    cancel = threading.Event()
    result = run(
        [
            "/bin/sh",
            "-c",
            "trap 'echo saved > state; exit 130' INT; echo go; while true; do sleep 0.02; done",
        ],
        tmp_path,
        sink=lambda line: cancel.set(),
        cancel=cancel,
    )
    assert result.cancelled and result.returncode == 130
    assert (tmp_path / "state").read_text() == "saved\n"


def test_a_program_deaf_to_signals_is_killed_with_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "_INTERRUPT_SECONDS", 0.2)
    monkeypatch.setattr(processes, "_GRACE_SECONDS", 0.2)
    cancel = threading.Event()
    pids: list[int] = []

    def sink(line: str) -> None:
        pids.append(int(line))
        if len(pids) == 2:  # the shell and its background child both run
            cancel.set()

    result = run(
        ["/bin/sh", "-c", "trap '' INT TERM; echo $$; sleep 300 & echo $!; wait; wait"],
        tmp_path,
        sink=sink,
        cancel=cancel,
    )
    assert result.cancelled and result.returncode == -signal.SIGKILL
    assert len(pids) == 2
    for pid in pids:  # SIGKILLed with the group (its death is delivered a moment later)
        found = survivors.identify(pid, program="sh")
        assert found is None or survivors.wait_for_exit(found, timeout=30)


def test_a_record_never_names_another_process(tmp_path: Path) -> None:
    me = survivors.identify(os.getpid(), program="pytest")
    assert me is not None and survivors.is_running(me)
    reused = survivors.ProcessRecord(
        pid=me.pid, start_ticks=me.start_ticks + 1, boot_id=me.boot_id, program="terraform"
    )
    assert not survivors.is_running(reused)  # same pid, started at another time
    rebooted = survivors.ProcessRecord(
        pid=me.pid, start_ticks=me.start_ticks, boot_id="another-boot", program="terraform"
    )
    assert not survivors.is_running(rebooted)
    assert survivors.wait_for_exit(reused, timeout=1)

    path = tmp_path / "record.json"
    survivors.write_record(path, me)
    assert survivors.read_record(path) == me
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for junk in (
        "",
        "not json",
        '{"pid": "x"}',
        '{"pid": 1, "start_ticks": 1, "boot_id": "b", "program": "p"}',
    ):
        path.write_text(junk)
        assert survivors.read_record(path) is None
    path.write_text("x" * 10_000)
    assert survivors.read_record(path) is None
    assert survivors.read_record(tmp_path / "missing") is None
