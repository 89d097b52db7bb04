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
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from truenorth.engines import processes, protocol

__all__ = ["Invocation", "OperationCancelled"]


class OperationCancelled(protocol.EngineError):
    """The operation was stopped through ``ctx.cancel``."""


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
        """
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
            )
        except processes.ProgramMissing:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: {self.binary} not found; install it or fix the configured path"
            ) from None
        except OSError as exc:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: {self.binary} cannot be started: {exc.strerror or exc}"
            ) from None
        if check and (result.cancelled or result.timed_out or result.returncode not in ok_codes):
            raise self.failure(result, what=what)
        return result

    def failure(self, result: processes.ProcessResult, *, what: str) -> protocol.EngineError:
        """The error for a failed command, redacted and with short paths."""
        text = f"stack {self.ctx.stack.name!r}: {what} failed: {result.describe_failure()}"
        if result.cancelled:
            return OperationCancelled(self.clean(text))
        return protocol.EngineError(self.clean(text))

    def clean(self, text: str) -> str:
        """``text`` redacted, with working-copy paths shown relative to the repository."""
        return self.ctx.redactor(text.replace(f"{self.tree}/", "").replace(str(self.tree), "."))
