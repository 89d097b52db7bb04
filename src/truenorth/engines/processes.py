"""Running an engine's external program: argv only, bounded, cancellable, redacted.

Every external tool (terraform, tofu, kubectl) is started through :func:`run` with an
argv list, never a shell string, in its own process group so that a timeout or a
cancel kills the tool and everything it spawned (providers, plugins). Output lines are
redacted before anyone sees them, including the live sink.

One exception, asked for explicitly: a program whose standard output is *data* that
truenorth goes on to use (``kubectl kustomize`` renders the manifests that are applied)
gets it back verbatim (``stdout_is_data=True``). Masking is for what is shown; what is
applied must be byte for byte what the repository holds. Such output never reaches the
live sink, and its standard error is still redacted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from truenorth.core import redaction

__all__ = ["ProcessResult", "ProgramMissing", "run"]

#: How long a killed tool gets to exit after SIGTERM before SIGKILL.
_GRACE_SECONDS = 5.0


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
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` with exactly ``env``; return its redacted output.

    ``sink``, if given, is called with each redacted stdout line as it arrives.
    ``stdout_is_data`` returns standard output verbatim, for a caller that consumes it
    (never shows it); the sink then gets nothing. Raises :class:`ProgramMissing` when the
    program cannot be found.
    """
    if stdout_is_data:
        sink = None
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=str(cwd),
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ProgramMissing(f"{argv[0]} is not installed or not on PATH") from exc
    out_lines: list[str] = []
    err_lines: list[str] = []

    def pump(stream: IO[str], into: list[str], live: bool) -> None:
        for line in iter(stream.readline, ""):
            into.append(line)
            if live and sink is not None:
                sink(redactor(line.rstrip("\n")))

    readers = [
        threading.Thread(target=pump, args=(proc.stdout, out_lines, True), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err_lines, False), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    timed_out = cancelled = False
    deadline = started + timeout
    poll = 0.002  # short programs end in milliseconds: poll fast, then back off to 0.1 s
    while True:
        try:
            proc.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                cancelled = True
            elif time.monotonic() >= deadline:
                timed_out = True
            else:
                poll = min(poll * 2, 0.1)
                continue
            _stop(proc)
            break
    for reader in readers:
        reader.join(timeout=_GRACE_SECONDS)
    return ProcessResult(
        argv=tuple(argv),
        returncode=proc.returncode if proc.returncode is not None else -signal.SIGKILL,
        stdout="".join(out_lines) if stdout_is_data else redactor("".join(out_lines)),
        stderr=redactor("".join(err_lines)),
        timed_out=timed_out,
        cancelled=cancelled,
        seconds=time.monotonic() - started,
        stdout_is_data=stdout_is_data,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the whole process group (terraform forwards it and stops cleanly), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
