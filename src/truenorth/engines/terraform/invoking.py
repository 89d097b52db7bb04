"""Running Terraform commands for one operation on one stack.

An operation (a plan, an apply, a drift check) runs several commands (``init``,
``plan``, ``show``...) against one deadline and one cancel event, in one working
directory with one environment. :class:`Invocation` holds those and turns every way a
command can fail (missing binary, non-zero exit, a signal, the deadline, a cancel) into
an :class:`~truenorth.engines.protocol.EngineError` naming the stack, with the message
redacted and the private working-copy paths shortened to repository paths.

While a command runs, the run's folder names it (``processes.RECORD_FILE``): if the
controller dies, Terraform is interrupted and finishes stopping on its own, and crash
recovery waits for it before the stack is planned again.

Commands whose output is machine-read (``show -json``, ``state pull``) keep their
standard output verbatim (``stdout_is_data``): masking inside JSON can break the JSON,
and a masked URL credential would hide the real value from the secrets mined there.
That output is parsed, mined for secrets and dropped, never shown.

Every command runs in the stack's sandbox (:class:`Confinement`, built by
:mod:`.preparing`) unless the controller's ``sandbox`` mode leaves it unconfined: ``init``
may write the shared provider cache and always has a network (it installs providers; it
runs no repository code), ``apply`` has a network, and every other command (``plan``,
``show``, ``workspace``, ``state pull``) reads the cache and has a network unless the
repository denies it for plans.

A command that fails with an error its :class:`Retrying` policy calls transient (the
``pg`` backend's database-wide locks and catalog races, :mod:`.sharing`) is run again, a
bounded number of times with a jittered, growing pause, never past the operation's
deadline and never once it is cancelled; each retry says so in the run log
(``truenorth: retrying: ...``). Any other failure fails at once.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing

__all__ = ["Confinement", "Invocation", "OperationCancelled", "Retrying"]


class OperationCancelled(protocol.EngineError):
    """The operation was stopped through ``ctx.cancel``."""


@dataclass(frozen=True)
class Confinement:
    """The sandboxes of one operation's commands: ``init``, ``apply``, and the others."""

    init: sandboxing.Sandbox
    apply: sandboxing.Sandbox
    other: sandboxing.Sandbox

    def with_writable(self, path: Path) -> Confinement:
        """These sandboxes with ``path`` writable in each (a declared local backend's folder)."""

        def widened(sandbox: sandboxing.Sandbox) -> sandboxing.Sandbox:
            return dataclasses.replace(
                sandbox,
                read_only=tuple(item for item in sandbox.read_only if item != path),
                writable=(*sandbox.writable, path),
            )

        return Confinement(init=widened(self.init), apply=widened(self.apply), other=widened(self.other))


@dataclass(frozen=True)
class Retrying:
    """Which failed commands are run again, how often and how far apart.

    ``reason(argv, result)`` says, in words, why a failed ``result`` is transient (worth
    another try), or None: it fails at once. Try ``n`` (from 2) waits a random pause
    between half and all of ``first_pause * 2 ** (n - 2)`` seconds (jitter spreads
    replicas that collided), ``tries`` tries in all.
    """

    reason: Callable[[Sequence[str], processes.ProcessResult], str | None]
    tries: int = 5
    first_pause: float = 0.5

    def pause(self, tried: int) -> float:
        """Seconds to wait after ``tried`` failed tries."""
        ceiling = self.first_pause * 2 ** (tried - 1)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True)
class Invocation:
    """The commands of one operation: same binary, directory, environment and deadline.

    ``tree`` is the root of the working copy; paths under it are shown repo-relative.
    """

    ctx: protocol.StackContext
    binary: str
    cwd: Path
    tree: Path
    env: Mapping[str, str]
    deadline: float
    #: None: the controller's ``sandbox`` mode runs the commands unconfined.
    confinement: Confinement | None = None
    #: Which failures are transient and run again (:class:`Retrying`); None: none is.
    retrying: Retrying | None = None

    @property
    def sandboxed(self) -> bool:
        """Whether the commands run in the sandbox."""
        return self.confinement is not None

    def run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        ok_codes: Collection[int] = (0,),
        stream: bool = False,
        raw: bool = False,
        check: bool = True,
        finish_alone: bool = False,
    ) -> processes.ProcessResult:
        """Run ``argv``; raise :class:`EngineError` unless it exits with one of ``ok_codes``.

        ``stream`` sends output lines live to ``ctx.on_output``; ``raw`` keeps standard
        output verbatim (machine-read output only; stderr is still redacted); ``check=False`` returns every finished result, failed,
        timed out or cancelled, for the caller to judge (a missing binary still raises).
        ``finish_alone`` lets the command finish if the controller dies (``apply``).
        A failure the :class:`Retrying` policy calls transient is run again (see the module).
        """
        tried = 1
        while True:
            result = self._run_once(argv, what=what, stream=stream, raw=raw, finish_alone=finish_alone)
            pause = self._retry_pause(argv, result, what=what, ok_codes=ok_codes, tried=tried)
            if pause is None:
                break
            if self.ctx.cancel.wait(pause):
                raise OperationCancelled(f"stack {self.ctx.stack.name!r}: cancelled before {what}")
            tried += 1
        if check and (result.cancelled or result.timed_out or result.returncode not in ok_codes):
            raise self.failure(result, what=what)
        return result

    def _retry_pause(
        self,
        argv: Sequence[str],
        result: processes.ProcessResult,
        *,
        what: str,
        ok_codes: Collection[int],
        tried: int,
    ) -> float | None:
        """How long to wait before running ``argv`` again, said in the run log; None: do not."""
        policy = self.retrying
        if (
            policy is None
            or tried >= policy.tries
            or result.cancelled
            or result.timed_out
            or result.limit
            or result.returncode in ok_codes
        ):
            return None
        reason = policy.reason(argv, result)
        if reason is None:
            return None
        pause = policy.pause(tried)
        if time.monotonic() + pause >= self.deadline:
            return None
        ctx = self.ctx
        if ctx.on_output is not None:
            ctx.on_output(
                ctx.redactor(
                    f"truenorth: retrying: {what} failed on {reason} (transient); "
                    f"try {tried + 1} of {policy.tries} in {pause:.1f}s"
                )
            )
        return pause

    def _run_once(
        self, argv: Sequence[str], *, what: str, stream: bool, raw: bool, finish_alone: bool
    ) -> processes.ProcessResult:
        """Run ``argv`` once; raise only when it cannot start, is cancelled or timed out before."""
        sandbox = self._sandbox(argv)
        ctx = self.ctx
        if ctx.cancel.is_set():
            raise OperationCancelled(f"stack {ctx.stack.name!r}: cancelled before {what}")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: timed out after {ctx.timeout:.0f}s before {what}"
            )
        try:
            result = processes.run(
                list(argv),
                cwd=self.cwd,
                env=self.env,
                timeout=remaining,
                redactor=ctx.redactor,
                cancel=ctx.cancel,
                sink=ctx.on_output if stream else None,
                stdout_is_data=raw,
                record=ctx.run_dir / processes.RECORD_FILE,
                finish_alone=finish_alone,
                sandbox=sandbox,
                limits=ctx.limits,
            )
        except processes.ProgramMissing:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: {self.binary} not found; install it or fix the configured path"
            ) from None
        except OSError as exc:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: {self.binary} cannot be started: {exc.strerror or exc}"
            ) from None
        return result

    def _sandbox(self, argv: Sequence[str]) -> sandboxing.Sandbox | None:
        if self.confinement is None:
            return None
        command = argv[1] if len(argv) > 1 else ""
        if command == "init":
            return self.confinement.init
        if command == "apply":
            return self.confinement.apply
        return self.confinement.other

    def failure(self, result: processes.ProcessResult, *, what: str) -> protocol.EngineError:
        """The error for a failed command, redacted and with short paths."""
        text = f"stack {self.ctx.stack.name!r}: {what} failed: {result.describe_failure()}"
        if result.cancelled:
            return OperationCancelled(self.clean(text))
        return protocol.EngineError(self.clean(text))

    def clean(self, text: str) -> str:
        """``text`` redacted, with working-copy paths shown relative to the repository."""
        return self.ctx.redactor(text.replace(f"{self.tree}/", "").replace(str(self.tree), "."))
