"""Running an engine's external program: argv only, bounded, cancellable, redacted.

Every external tool (terraform, tofu, kubectl) is started through :func:`run` with an
argv list, never a shell string, in its own process group so that a timeout or a
cancel stops the tool and everything it spawned (providers, plugins): SIGINT first,
which Terraform takes as a graceful stop, then SIGTERM and SIGKILL to the group.
Output lines are redacted before anyone sees them, including the live sink.

One exception, asked for explicitly: a program whose standard output is *data* that
truenorth goes on to use (``kubectl kustomize`` renders the manifests that are applied)
gets it back verbatim (``stdout_is_data=True``). Masking is for what is shown; what is
applied must be byte for byte what the repository holds. Such output never reaches the
live sink, and its standard error is still redacted.

Surviving the caller (see ``docs/architecture.md``, "Crash safety"): the program writes
its output to unnamed temporary files, which this side tails for the live sink, never to
a pipe, so a controller that dies cannot kill it with SIGPIPE half-way through saving
its state, and it can leave a record (``record=``) that crash recovery reads to wait for
it. What happens to it when the controller dies depends on what it does:

* a program with side effects (``terraform apply``: ``finish_alone=True``) runs to its
  end by itself; the restarted controller waits for it and plans again from the state it
  saved. Interrupting it instead would race: a provisioner that has just completed can
  still be reported as interrupted (and its resource tainted), so it would run twice;
* every other program (plans, ``show``, ``init``, ``kubectl kustomize``) is started
  through util-linux ``setpriv --pdeathsig INT``, so the death of the thread that started
  it interrupts it as Ctrl-C would: re-running it is harmless.

It runs with umask 077: whatever it writes (Terraform's state and its backup, say) is
private to truenorth's user.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from truenorth.core import redaction
from truenorth.engines import survivors

__all__ = ["PRIVATE_UMASK", "RECORD_FILE", "ProcessResult", "ProgramMissing", "run"]

log = logging.getLogger(__name__)

#: How long a stopped tool gets to finish after SIGINT (Terraform saves its state) ...
_INTERRUPT_SECONDS = 30.0
#: ... and then after SIGTERM, before SIGKILL.
_GRACE_SECONDS = 5.0
#: Everything a program writes is private to truenorth's user (Terraform's state backup...).
PRIVATE_UMASK = 0o077
#: The conventional name of a run's ``record`` file (see :func:`run`).
RECORD_FILE = "engine.process.json"


class ProgramMissing(FileNotFoundError):  # noqa: N818 (a condition, not an error kind)
    """The program is not installed (not on PATH)."""


@dataclass(frozen=True)
class ProcessResult:
    """How a program ended. ``stderr`` is redacted, and so is ``stdout`` unless the caller
    asked for it as data (see :func:`run`); ``returncode`` is negative when a signal killed
    it. ``timed_out`` and ``cancelled`` say why we stopped it."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    cancelled: bool = False
    seconds: float = 0.0
    stdout_is_data: bool = False

    @property
    def ok(self) -> bool:
        """True when the program exited 0 by itself."""
        return self.returncode == 0 and not self.timed_out and not self.cancelled

    def describe_failure(self) -> str:
        """A one-paragraph, redacted reason for a failure (standard error first)."""
        name = Path(self.argv[0]).name
        if self.timed_out:
            return f"{name} timed out after {self.seconds:.0f}s and was stopped"
        if self.cancelled:
            return f"{name} was cancelled"
        if self.returncode < 0:
            try:
                sig = signal.Signals(-self.returncode).name
            except ValueError:
                sig = str(-self.returncode)
            return f"{name} was killed by signal {sig}"
        shown_stdout = "" if self.stdout_is_data else self.stdout.strip()
        tail = (self.stderr.strip() or shown_stdout)[-4000:]
        return f"{name} exited with code {self.returncode}" + (f":\n{tail}" if tail else "")


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    redactor: redaction.Redactor,
    cancel: threading.Event | None = None,
    sink: Callable[[str], None] | None = None,
    stdin: str | None = None,
    stdout_is_data: bool = False,
    record: Path | None = None,
    finish_alone: bool = False,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` with exactly ``env``; return its redacted output.

    ``sink``, if given, is called with each redacted stdout line as it arrives.
    ``stdout_is_data`` returns standard output verbatim, for a caller that consumes it
    (never shows it); the sink then gets nothing. ``record``, if given, is a file that
    names the running program (:class:`~truenorth.engines.survivors.ProcessRecord`)
    until it has been reaped, so that a process started after this one died can wait
    for it. ``finish_alone`` lets the program run to its end if this process dies (for
    programs with side effects; see the module's docstring). Raises
    :class:`ProgramMissing` when the program cannot be found.
    """
    if stdout_is_data:
        sink = None
    program = _resolve(argv[0], cwd=cwd, env=env)
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                [*([] if finish_alone else _interrupt_with_parent()), program, *argv[1:]],
                cwd=str(cwd),
                env=dict(env),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                umask=PRIVATE_UMASK,
            )
        except FileNotFoundError as exc:
            raise ProgramMissing(f"{argv[0]} is not installed or not on PATH") from exc
        try:
            _record(record, proc.pid, program=Path(argv[0]).name)
            outcome = _supervise(
                proc,
                stdin=stdin,
                out=out,
                sink=sink,
                redactor=redactor,
                cancel=cancel,
                deadline=started + timeout,
            )
        finally:
            if proc.returncode is None:  # an exception in our own code: never leave it running
                _stop(proc)
            if record is not None:
                with contextlib.suppress(OSError):
                    record.unlink(missing_ok=True)
        stdout = _text(out)
        stderr = _text(err)
    return ProcessResult(
        argv=tuple(argv),
        returncode=proc.returncode if proc.returncode is not None else -signal.SIGKILL,
        stdout=stdout if stdout_is_data else redactor(stdout),
        stderr=redactor(stderr),
        timed_out=outcome == "timed_out",
        cancelled=outcome == "cancelled",
        seconds=time.monotonic() - started,
        stdout_is_data=stdout_is_data,
    )


def _supervise(
    proc: subprocess.Popen[bytes],
    *,
    stdin: str | None,
    out: IO[bytes],
    sink: Callable[[str], None] | None,
    redactor: redaction.Redactor,
    cancel: threading.Event | None,
    deadline: float,
) -> str:
    """Feed stdin, tail stdout into ``sink`` until the program ends; say how it ended."""
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
    tail = _Tail(out, sink=sink, redactor=redactor)
    poll = 0.002  # short programs end in milliseconds: poll fast, then back off to 0.1 s
    while True:
        try:
            proc.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            tail.feed()
            if cancel is not None and cancel.is_set():
                _stop(proc)
                tail.feed(final=True)
                return "cancelled"
            if time.monotonic() >= deadline:
                _stop(proc)
                tail.feed(final=True)
                return "timed_out"
            poll = min(poll * 2, 0.1)
    tail.feed(final=True)
    return "exited"


class _Tail:
    """Reads what a program wrote so far to its output file and passes whole lines on.

    The program writes through its own file offset; we read with ``pread`` at ours, so
    neither disturbs the other.
    """

    _CHUNK = 1 << 16

    def __init__(
        self, out: IO[bytes], *, sink: Callable[[str], None] | None, redactor: redaction.Redactor
    ) -> None:
        self._fd = out.fileno()
        self._sink = sink
        self._redactor = redactor
        self._offset = 0
        self._partial = b""

    def feed(self, *, final: bool = False) -> None:
        if self._sink is None:
            return
        while True:
            chunk = os.pread(self._fd, self._CHUNK, self._offset)
            if not chunk:
                break
            self._offset += len(chunk)
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            for line in lines:
                self._emit(line)
        if final and self._partial:
            self._emit(self._partial)
            self._partial = b""

    def _emit(self, line: bytes) -> None:
        if self._sink is None:
            return
        try:
            self._sink(self._redactor(line.decode("utf-8", errors="replace").rstrip("\r")))
        except Exception:  # the live log is a view: losing it must not stop the program
            log.exception("the live output sink failed; the rest of the output is kept for the result only")
            self._sink = None


def _text(spool: IO[bytes]) -> str:
    """Everything the program wrote, decoded as text mode would (universal newlines)."""
    spool.seek(0)
    raw = spool.read()
    return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="replace").read()


def _resolve(program: str, *, cwd: Path, env: Mapping[str, str]) -> str:
    """The file the program would be started from (the child's PATH and directory).

    Resolved here because the program is started through ``setpriv``, which would
    report a missing program only as an exit code: :class:`ProgramMissing` when there
    is none, :class:`PermissionError` when it cannot be executed.
    """
    if os.sep not in program:
        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found is None:
            raise ProgramMissing(f"{program} is not installed or not on PATH")
        return found
    path = os.path.join(cwd, program)
    if not os.path.exists(path):
        raise ProgramMissing(f"{program} is not installed or not on PATH")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    return path


def _interrupt_with_parent() -> list[str]:
    """The argv prefix that interrupts (SIGINT) the program when the thread that started it dies.

    Terraform takes SIGINT as Ctrl-C: it stops the in-flight operation, saves its state
    and releases its lock. A parent-death signal belongs to the *thread* that forks:
    engines are started from long-lived worker threads (and the CLI's main thread),
    which end only when the process does. Without util-linux ``setpriv`` the program
    is started directly and survives a killed controller until it ends by itself.
    """
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", "INT", "--"] if setpriv else []


@functools.cache
def _setpriv() -> str | None:
    """util-linux ``setpriv`` if it is installed and knows ``--pdeathsig`` (2.33 and later)."""
    found = shutil.which("setpriv") or next(
        (path for path in ("/usr/bin/setpriv", "/bin/setpriv") if os.access(path, os.X_OK)), None
    )
    if found is None:
        log.warning("util-linux setpriv not found: engine programs outlive a killed controller")
        return None
    try:
        usage = subprocess.run(
            [found, "--help"], capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        usage = b""
    if b"--pdeathsig" not in usage:
        log.warning(
            "%s has no --pdeathsig (util-linux < 2.33): engine programs outlive a killed controller", found
        )
        return None
    return found


def _record(path: Path | None, pid: int, *, program: str) -> None:
    if path is None:
        return
    found = survivors.identify(pid, program=program)
    if found is None:
        return  # already exited: nothing to wait for
    with contextlib.suppress(OSError):  # a full disk must not stop the run; the signal still works
        survivors.write_record(path, found)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt the process group as Ctrl-C in a terminal would, then SIGTERM it, then SIGKILL it.

    Terraform takes SIGINT as a graceful stop (the operation in flight ends, the state is
    saved, the lock released) and its provider plugins ignore it, as they must in a
    terminal; a SIGTERM would kill the plugins under it. Whatever is left of the group
    once the program has stopped (a provisioner's children) is killed.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_INTERRUPT_SECONDS)
    if proc.returncode is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        proc.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
