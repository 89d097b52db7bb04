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

Confined (``sandbox=``, see :mod:`.sandbox`): the program runs inside bubblewrap as the
sandbox's PID 1, leader of its own process group. The record then names the program
(its pid as this side sees it, from bwrap), a cancel or a timeout signals its group,
and the parent-death interrupt reaches it from inside the sandbox; a program that
finishes alone keeps its sandbox until it ends. Its exit status comes back through
bwrap as a shell would report it: 128 + N for a signal N. A start that fails once the
child exists (bwrap's pid unreadable, an exception, a cancel) never leaves it behind:
bwrap is frozen, the sandbox's PID 1 killed (which ends the sandbox), bwrap killed and
reaped. Descriptors are waited on with ``poll``, never ``select``, which refuses those
past FD_SETSIZE (1024) that a controller with many connections open hands out.

Limits (``limits=``): CPU time and memory per process (``prlimit``: SIGXCPU, then SIGKILL
5 s later; ``RLIMIT_DATA``), and the output kept: a program whose standard output or
error passes ``output_bytes`` is stopped, and what is kept is cut there with a marker.
Either way the result says which limit it hit (:attr:`ProcessResult.limit`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import select
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
from truenorth.engines import sandbox as sandboxing
from truenorth.engines import survivors

__all__ = [
    "PRIVATE_UMASK",
    "RECORD_FILE",
    "ProcessResult",
    "ProgramMissing",
    "limit_hit",
    "run",
    "signal_of",
    "version_of",
]

log = logging.getLogger(__name__)

#: How long a stopped tool gets to finish after SIGINT (Terraform saves its state) ...
_INTERRUPT_SECONDS = 30.0
#: ... and then after SIGTERM, before SIGKILL.
_GRACE_SECONDS = 5.0
#: Everything a program writes is private to truenorth's user (Terraform's state backup...).
PRIVATE_UMASK = 0o077
#: The conventional name of a run's ``record`` file (see :func:`run`).
RECORD_FILE = "engine.process.json"
#: How long bwrap gets to say which process is the sandbox's PID 1.
_INFO_SECONDS = 30.0
#: Exit statuses bwrap reports for a program killed by signal N: 128 + N.
_SIGNALLED = range(129, 129 + 64)


class ProgramMissing(FileNotFoundError):  # noqa: N818 (a condition, not an error kind)
    """The program is not installed (not on PATH)."""


@dataclass(frozen=True)
class ProcessResult:
    """How a program ended. ``stderr`` is redacted, and so is ``stdout`` unless the caller
    asked for it as data (see :func:`run`); ``returncode`` is negative when a signal killed
    it, or (``sandboxed``) 128 + the signal, as a shell reports it: bwrap cannot tell the
    two apart. ``timed_out`` and ``cancelled`` say why we stopped it."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    cancelled: bool = False
    seconds: float = 0.0
    stdout_is_data: bool = False
    #: Whether it ran inside the bubblewrap sandbox.
    sandboxed: bool = False
    #: The limit it hit, in words (``"output: more than 128 MiB"``), or "".
    limit: str = ""

    @property
    def ok(self) -> bool:
        """True when the program exited 0 by itself."""
        return self.returncode == 0 and not self.timed_out and not self.cancelled and not self.limit

    def describe_failure(self) -> str:
        """A one-paragraph, redacted reason for a failure (standard error first)."""
        name = Path(self.argv[0]).name
        if self.timed_out:
            return f"{name} timed out after {self.seconds:.0f}s and was stopped"
        if self.cancelled:
            return f"{name} was cancelled"
        if self.limit:
            return f"{name} was stopped at a limit: {self.limit}"
        if self.returncode < 0:
            return f"{name} was killed by signal {_signal_name(-self.returncode)}"
        shown_stdout = "" if self.stdout_is_data else self.stdout.strip()
        tail = (self.stderr.strip() or shown_stdout)[-4000:]
        code = str(self.returncode)
        signalled = signal_of(self.returncode, sandboxed=self.sandboxed)
        if signalled is not None:
            code += f" (128 + {_signal_name(signalled)}: killed by that signal, as a shell reports it)"
        return f"{name} exited with code {code}" + (f":\n{tail}" if tail else "")


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
    sandbox: sandboxing.Sandbox | None = None,
    limits: sandboxing.Limits | None = None,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` with exactly ``env``; return its redacted output.

    ``sink``, if given, is called with each redacted stdout line as it arrives.
    ``stdout_is_data`` returns standard output verbatim, for a caller that consumes it
    (never shows it); the sink then gets nothing. ``record``, if given, is a file that
    names the running program (:class:`~truenorth.engines.survivors.ProcessRecord`)
    until it has been reaped, so that a process started after this one died can wait
    for it. ``finish_alone`` lets the program run to its end if this process dies (for
    programs with side effects; see the module's docstring). ``sandbox`` runs it
    confined (its ``environment`` merged over ``env``), ``limits`` bound its CPU time,
    memory and the output kept. Raises :class:`ProgramMissing` when the program cannot
    be found.
    """
    if stdout_is_data:
        sink = None
    program = _resolve(argv[0], cwd=cwd, env=env)
    started = time.monotonic()
    cap = limits.output_bytes if limits is not None else None
    with contextlib.ExitStack() as held:
        out = held.enter_context(tempfile.TemporaryFile())
        err = held.enter_context(tempfile.TemporaryFile())
        launched = _launch(
            [program, *argv[1:]],
            cwd=cwd,
            env=env,
            stdin=stdin,
            out=out,
            err=err,
            finish_alone=finish_alone,
            sandbox=sandbox,
            limits=limits,
            shown=argv[0],
        )
        proc = launched.proc
        try:
            _record(record, launched.target, program=Path(argv[0]).name)
            outcome = _supervise(
                launched,
                stdin=stdin,
                out=out,
                err=err,
                sink=sink,
                redactor=redactor,
                cancel=cancel,
                deadline=started + timeout,
                cap=cap,
            )
        finally:
            if proc.returncode is None:  # an exception in our own code: never leave it running
                try:
                    _stop(launched)
                finally:
                    if proc.returncode is None:  # _stop itself was interrupted
                        _kill_started(proc, sandboxed=launched.sandboxed)
            if record is not None:
                with contextlib.suppress(OSError):
                    record.unlink(missing_ok=True)
        stdout = _text(out, cap=cap)
        stderr = _text(err, cap=cap)
    returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    return ProcessResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout=stdout if stdout_is_data else redactor(stdout),
        stderr=redactor(stderr),
        timed_out=outcome == "timed_out",
        cancelled=outcome == "cancelled",
        seconds=time.monotonic() - started,
        stdout_is_data=stdout_is_data,
        sandboxed=sandbox is not None,
        limit=limit_hit(
            outcome,
            signalled=signal_of(returncode, sandboxed=sandbox is not None),
            stderr=stderr,
            limits=limits,
            seconds=time.monotonic() - started,
        ),
    )


@dataclass(frozen=True)
class _Launched:
    """A started program: our child, and the process to signal and record (the same one,
    or the program inside the sandbox when it is confined)."""

    proc: subprocess.Popen[bytes]
    inner: int | None = None
    #: Started inside bwrap (``proc`` is bwrap; ``inner``, when known, the program).
    sandboxed: bool = False

    @property
    def target(self) -> int:
        return self.inner if self.inner is not None else self.proc.pid


def _launch(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: str | None,
    out: IO[bytes],
    err: IO[bytes],
    finish_alone: bool,
    sandbox: sandboxing.Sandbox | None,
    limits: sandboxing.Limits | None,
    shown: str,
) -> _Launched:
    """Start ``argv`` (program resolved), confined or not; find the sandbox's PID 1."""
    environment = dict(env)
    info: tuple[int, int] | None = None
    if sandbox is None:
        prefix = [] if finish_alone else _interrupt_with_parent()
        command = [*prefix, *sandboxing.limit_options(limits), *argv]
    else:
        if finish_alone:
            sandbox = sandbox.with_lifetime(sandboxing.Lifetime.FINISH_ALONE)
        info = os.pipe()
        environment.update(dict(sandbox.environment))
        interrupt = sandbox.lifetime is sandboxing.Lifetime.INTERRUPT
        command = [
            *(_interrupt_with_parent() if interrupt else []),
            *sandboxing.command(sandbox, argv, cwd=cwd, limits=limits, info_fd=info[1]),
        ]
    proc: subprocess.Popen[bytes] | None = None
    try:
        try:
            proc = subprocess.Popen(
                command,
                cwd=str(cwd),
                env=environment,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                umask=PRIVATE_UMASK,
                pass_fds=(info[1],) if info is not None else (),
            )
        except FileNotFoundError as exc:
            if exc.filename == str(cwd):
                raise
            missing = shown if sandbox is None else sandboxing.BWRAP
            raise ProgramMissing(f"{missing} is not installed or not on PATH") from exc
        finally:
            if info is not None:
                os.close(info[1])
        inner = _sandbox_pid(info[0], proc) if info is not None else None
    except BaseException:
        # Started but not handed over (the sandbox's pid unreadable, a cancel, a bug): it
        # must not be left behind, nor anything it started.
        if proc is not None:
            _kill_started(proc, sandboxed=info is not None)
        raise
    finally:
        if info is not None:
            os.close(info[0])
    return _Launched(proc=proc, inner=inner, sandboxed=info is not None)


def _sandbox_pid(fd: int, proc: subprocess.Popen[bytes]) -> int | None:
    """The pid of the sandbox's PID 1, the program (as this side sees it), from ``--info-fd``.

    bwrap writes it once the sandbox exists and then closes the descriptor; None when it
    ends first (a sandbox that could not be set up: its error is on standard error).
    """
    data = b""
    deadline = time.monotonic() + _INFO_SECONDS
    # poll, not select: a controller with many connections open has descriptors past
    # select's FD_SETSIZE (1024), and select refuses them.
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    while len(data) < 4096 and time.monotonic() < deadline:
        if not waiting.poll(100):
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        pid = json.loads(data.decode("utf-8"))["child-pid"]
    except (ValueError, KeyError, TypeError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def signal_of(returncode: int, *, sandboxed: bool) -> int | None:
    """The signal that killed the program, if one did (see :attr:`ProcessResult.returncode`)."""
    if returncode < 0:
        return -returncode
    if sandboxed and returncode in _SIGNALLED:
        return returncode - 128
    return None


def limit_hit(
    outcome: str, *, signalled: int | None, stderr: str, limits: sandboxing.Limits | None, seconds: float
) -> str:
    """Which limit the program hit, in words; "" when none did (as far as can be told).

    A SIGKILL is put down to the CPU-time limit (whose hard limit kills a program that
    ignores SIGXCPU) only when the program ran long enough to use that much CPU time on
    this machine's cores.
    """
    if limits is None:
        return ""
    if outcome == "output_limit":
        return f"output: it printed more than {_size(limits.output_bytes)} (the output kept is cut there)"
    if outcome != "exited":
        return ""
    if signalled == signal.SIGXCPU and limits.cpu_seconds is not None:
        return f"CPU time: it used more than {limits.cpu_seconds} s of CPU time"
    could_spend = seconds * (os.cpu_count() or 1)
    if signalled == signal.SIGKILL and limits.cpu_seconds is not None and could_spend >= limits.cpu_seconds:
        return f"CPU time: killed (SIGKILL) at its CPU-time limit of {limits.cpu_seconds} s (+5 s), or by the system"
    if limits.memory_bytes is not None:
        tail = stderr[-4000:]
        if any(mark in tail for mark in _OUT_OF_MEMORY):
            return f"memory: it needed more than {_size(limits.memory_bytes)}"
    return ""


#: What programs print when an allocation fails (Go, Python, C libraries).
_OUT_OF_MEMORY = ("out of memory", "MemoryError", "Cannot allocate memory", "cannot allocate memory")


def _size(count: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift and count % (1 << shift) == 0:
            return f"{count >> shift} {unit}"
    return f"{count} bytes"


def version_of(argv: Sequence[str], *, timeout: float = 10.0) -> str | None:
    """The first line a program prints when asked its version (``["git", "--version"]``).

    For ``truenorth doctor``, which must not spawn processes itself: None when the program
    is missing, cannot be run, fails, times out or prints nothing.
    """
    try:
        result = run(argv, cwd=Path.cwd(), env=os.environ, timeout=timeout, redactor=redaction.Redactor())
    except OSError:  # ProgramMissing, PermissionError, a deleted working directory
        return None
    lines = (result.stdout.strip() or result.stderr.strip()).splitlines() if result.ok else []
    return lines[0].strip() if lines else None


def _supervise(
    launched: _Launched,
    *,
    stdin: str | None,
    out: IO[bytes],
    err: IO[bytes],
    sink: Callable[[str], None] | None,
    redactor: redaction.Redactor,
    cancel: threading.Event | None,
    deadline: float,
    cap: int | None,
) -> str:
    """Feed stdin, tail stdout into ``sink`` until the program ends; say how it ended."""
    proc = launched.proc
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
    tail = _Tail(out, sink=sink, redactor=redactor, cap=cap)
    poll = 0.002  # short programs end in milliseconds: poll fast, then back off to 0.1 s
    while True:
        try:
            proc.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            tail.feed()
            if cancel is not None and cancel.is_set():
                _stop(launched)
                tail.feed(final=True)
                return "cancelled"
            if time.monotonic() >= deadline:
                _stop(launched)
                tail.feed(final=True)
                return "timed_out"
            if cap is not None and _written(out, err) > cap:
                _stop(launched)
                tail.feed(final=True)
                return "output_limit"
            poll = min(poll * 2, 0.1)
    tail.feed(final=True)
    if cap is not None and _written(out, err) > cap:
        return "output_limit"
    return "exited"


def _written(*spools: IO[bytes]) -> int:
    """The most any one of ``spools`` holds (the output limit is per stream)."""
    return max(os.fstat(spool.fileno()).st_size for spool in spools)


class _Tail:
    """Reads what a program wrote so far to its output file and passes whole lines on.

    The program writes through its own file offset; we read with ``pread`` at ours, so
    neither disturbs the other.
    """

    _CHUNK = 1 << 16

    def __init__(
        self,
        out: IO[bytes],
        *,
        sink: Callable[[str], None] | None,
        redactor: redaction.Redactor,
        cap: int | None = None,
    ) -> None:
        self._fd = out.fileno()
        self._sink = sink
        self._redactor = redactor
        self._offset = 0
        self._partial = b""
        self._cap = cap

    def feed(self, *, final: bool = False) -> None:
        if self._sink is None:
            return
        while self._cap is None or self._offset < self._cap:
            size = self._CHUNK if self._cap is None else min(self._CHUNK, self._cap - self._offset)
            chunk = os.pread(self._fd, size, self._offset)
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


def _text(spool: IO[bytes], *, cap: int | None = None) -> str:
    """What the program wrote, decoded as text mode would (universal newlines).

    Past ``cap`` bytes it is cut, with a marker saying how much more there was.
    """
    spool.seek(0)
    raw = spool.read() if cap is None else spool.read(cap)
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="replace").read()
    if cap is not None:
        more = os.fstat(spool.fileno()).st_size - len(raw)
        if more > 0:
            text += f"\n... (output cut at the limit of {_size(cap)}: {more} more bytes)\n"
    return text


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
    setpriv = sandboxing.find_setpriv()
    return [setpriv, "--pdeathsig", "INT", "--"] if setpriv else []


def _record(path: Path | None, pid: int, *, program: str) -> None:
    if path is None:
        return
    found = survivors.identify(pid, program=program)
    if found is None:
        return  # already exited: nothing to wait for
    with contextlib.suppress(OSError):  # a full disk must not stop the run; the signal still works
        survivors.write_record(path, found)


def _stop(launched: _Launched) -> None:
    """Interrupt the program as Ctrl-C in a terminal would, then SIGTERM it, then SIGKILL it.

    Terraform takes SIGINT as a graceful stop (the operation in flight ends, the state is
    saved, the lock released) and its provider plugins ignore it, as they must in a
    terminal; a SIGTERM would kill the plugins under it. Whatever is left of the group
    once the program has stopped (a provisioner's children) is killed.

    Confined, the signals go to the program's group inside the sandbox, not to bwrap
    (which would die of them and leave the program unwaited for); the final SIGKILL
    ends the sandbox, everything in it, and bwrap. A sandbox whose program bwrap never
    named (it said nothing usable in time) is killed outright (:func:`_kill_started`).
    """
    proc = launched.proc
    inner = launched.inner
    if launched.sandboxed and inner is None:
        _kill_started(proc, sandboxed=True)
        return

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(launched.target, sig)

    def kill_all() -> None:
        for group in (inner, proc.pid):
            if group is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)

    send(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_INTERRUPT_SECONDS)
    if proc.returncode is not None:
        kill_all()
        return
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        kill_all()
        proc.wait()
        return
    kill_all()


def _kill_started(proc: subprocess.Popen[bytes], *, sandboxed: bool) -> None:
    """Kill our child ``proc`` and everything it started, at once, and reap it.

    For a program that cannot be stopped gently: one started but never handed over (an
    exception between its start and its supervision: the sandbox's pid unreadable, a
    cancel) or a sandbox whose program is not known. Unconfined, its process group is
    killed. Confined, ``proc`` is bwrap and the program is in a session of its own
    inside the sandbox: bwrap is stopped first (SIGSTOP: it starts nothing more), then
    each process it started is killed and waited for (the sandbox's PID 1: its death
    ends everything in the sandbox), then bwrap's group.
    """
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if sandboxed and proc.returncode is None:
        _freeze(proc)
        for child in _children(proc.pid):
            _kill_and_wait(child)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _freeze(proc: subprocess.Popen[bytes]) -> None:
    """SIGSTOP our child ``proc`` and wait (a while) until it has stopped or ended.

    ``waitid`` with ``WNOWAIT`` leaves its exit status for :meth:`~subprocess.Popen.wait`.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc.pid, signal.SIGSTOP)
    deadline = time.monotonic() + _GRACE_SECONDS
    pause = 0.001
    while time.monotonic() < deadline:
        try:
            changed = os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:  # reaped already
            return
        if changed is not None:
            return
        time.sleep(pause)  # a process in uninterruptible sleep stops only when it wakes up
        pause = min(pause * 2, 0.05)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from ``/proc``)."""
    found: list[int] = []
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                    stat = handle.read()
            except OSError:  # ended meanwhile
                continue
            # The name (field 2) is in parentheses and may hold spaces or ')': split after the last.
            fields = stat.rpartition(")")[2].split()
            if len(fields) > 1 and fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _kill_and_wait(pid: int) -> None:
    """SIGKILL ``pid`` and its group, and wait (a while, through a pidfd) until it has exited.

    ``pid`` must not be reaped meanwhile (its parent is stopped), so it names the same process.
    """
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except OSError:  # gone already, or no pidfd (Linux < 5.3): not waited for
        pidfd = None
    try:
        for kill in (os.kill, os.killpg):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
        if pidfd is not None:
            waiting = select.poll()
            waiting.register(pidfd, select.POLLIN)
            waiting.poll(int(_GRACE_SECONDS * 1000))
    finally:
        if pidfd is not None:
            os.close(pidfd)
