"""Engine processes that may outlive the process that started them, and waiting for them.

When a controller dies (SIGKILL, OOM) while Terraform runs, Terraform is not killed with
it: it runs in its own session, and the parent-death signal :mod:`.processes` asks for
only *interrupts* it (SIGINT), so that it stops the way Ctrl-C stops it: the in-flight
resource operation ends, the state is saved and the state lock released. That takes a
moment, sometimes longer. The restarted controller must not plan the stack before it is
over (the plan would fail on the state lock, or read a state about to change, and its
working copy would be deleted under the old Terraform).

So :func:`processes.run <truenorth.engines.processes.run>` can leave a
:class:`ProcessRecord` in a file while its program runs (removed once it has been
reaped), and crash recovery reads those files back, checks that the same process is
still alive (pid, start time since boot, and the boot id, so a reused pid or a reboot is
never mistaken for it) and waits for it to exit (:func:`wait_for_exit`). Linux only:
everything is read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessRecord", "identify", "is_running", "read_record", "stop", "wait_for_exit", "write_record"]

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
#: A record file is a few hundred bytes; anything larger is not ours.
_MAX_RECORD_BYTES = 4096
_KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ProcessRecord:
    """One running program: enough to find it again, and never another process by mistake."""

    pid: int
    #: Field 22 of ``/proc/<pid>/stat``: clock ticks after boot at which it started.
    start_ticks: int
    boot_id: str
    #: The program's name (``terraform``), for messages.
    program: str

    def describe(self) -> str:
        return f"{self.program} (pid {self.pid})"


def identify(pid: int, *, program: str) -> ProcessRecord | None:
    """The record of the live process ``pid``, or None when it is gone already."""
    ticks = _start_ticks(pid)
    if ticks is None:
        return None
    return ProcessRecord(pid=pid, start_ticks=ticks, boot_id=_boot_id(), program=program)


def is_running(record: ProcessRecord) -> bool:
    """True while the recorded process itself (not a reuse of its pid) has not exited."""
    if record.boot_id != _boot_id():
        return False  # another boot, or another machine: that process is long gone
    return _start_ticks(record.pid) == record.start_ticks


def write_record(path: Path, record: ProcessRecord) -> None:
    """Write ``record`` to ``path`` atomically, readable by the owner only."""
    text = json.dumps(
        {
            "pid": record.pid,
            "start_ticks": record.start_ticks,
            "boot_id": record.boot_id,
            "program": record.program,
        }
    )
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def read_record(path: Path) -> ProcessRecord | None:
    """The record in ``path``; None when there is none or it cannot be read as one."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_RECORD_BYTES + 1)
    except OSError:
        return None
    if len(raw) > _MAX_RECORD_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        record = ProcessRecord(
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            boot_id=str(data["boot_id"]),
            program=str(data["program"])[:64],
        )
    except (ValueError, KeyError, TypeError):
        return None
    return record if record.pid > 1 else None


def wait_for_exit(record: ProcessRecord, *, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the recorded process to exit; True once it has.

    It is not our child, so it cannot be reaped: a pidfd (Linux 5.3+) says when it
    exits; without one, ``/proc`` is polled.
    """
    deadline = time.monotonic() + timeout
    pidfd = _pidfd(record)
    exited = select.poll()  # not select: a busy controller's descriptors pass FD_SETSIZE (1024)
    if pidfd is not None:
        exited.register(pidfd, select.POLLIN)
    try:
        while is_running(record):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if pidfd is not None:
                exited.poll(int(min(remaining, 1.0) * 1000) + 1)
            else:
                time.sleep(min(remaining, 0.1))
        return True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def stop(record: ProcessRecord) -> None:
    """SIGTERM the recorded process's group, then SIGKILL it if it does not exit in time.

    The engine runs as the leader of its own process group (its pid is the group id),
    so its providers and plugins go with it.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_running(record):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)
        if wait_for_exit(record, timeout=_KILL_GRACE_SECONDS):
            return


def _pidfd(record: ProcessRecord) -> int | None:
    try:
        fd = os.pidfd_open(record.pid)
    except (AttributeError, OSError):
        return None
    if not is_running(record):  # the pid was reused between the check and the open
        os.close(fd)
        return None
    return fd


def _start_ticks(pid: int) -> int | None:
    """When ``pid`` started (ticks after boot); None if there is no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold spaces or ')': split after the last.
    fields = stat.rpartition(")")[2].split()
    try:
        state, ticks = fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None
    return None if state in ("Z", "X") else ticks


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""
