"""A tiny in-test engine (a test double at our own Engine boundary) for controller tests.

It "deploys" a stack by recording a digest of the stack folder's files in the stack's
state dir. A plan has changes when the folder's digest differs from the deployed one;
an apply writes it, and refuses a plan whose state changed since it was made (stale),
like Terraform. Files in the stack folder steer it: ``FAIL_PLAN`` makes plans fail,
``FAIL_APPLY`` makes applies fail, ``outputs.json`` (``{"name": {"value": V, "sensitive":
B}}``) are the outputs an apply reports. The stack's inputs count as part of what it
deploys (a changed input is a change), and every run's inputs are kept in ``inputs``. ``hold(stack)`` makes the next applies of a stack
wait until ``release(stack)``, to test a busy stack.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from truenorth.core import outputs, plans, runs
from truenorth.engines import protocol

__all__ = ["STATE_FILE", "FakeEngine", "folder_digest", "read_state"]

STATE_FILE = "fake-state.json"


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _wanted(ctx: protocol.StackContext) -> str:
    """What the stack should be: its folder's files, and its inputs (a changed input is a change)."""
    digest = folder_digest(ctx.stack_dir)
    if not ctx.inputs:
        return digest
    values = {name: item.digest for name, item in sorted(ctx.inputs.items())}
    return hashlib.sha256((digest + json.dumps(values, sort_keys=True)).encode()).hexdigest()


def read_state(state_dir: Path) -> dict[str, str]:
    path = state_dir / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


@dataclass
class FakeEngine:
    name: str = "terraform"
    #: (stack, kind, revision) of every plan, drift check and apply, in order.
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    holds: dict[str, threading.Event] = field(default_factory=dict)
    #: Set when an apply of the stack starts (and waits while held).
    applying: dict[str, threading.Event] = field(default_factory=dict)
    #: (stack, kind) -> the input values of its last such run, by name.
    inputs: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, stack: str) -> threading.Event:
        self.holds[stack] = threading.Event()
        self.applying[stack] = threading.Event()
        return self.applying[stack]

    def release(self, stack: str) -> None:
        self.holds.pop(stack).set()

    def kinds(self, stack: str | None = None) -> list[tuple[str, str]]:
        return [(s, k) for s, k, _ in self.calls if stack is None or s == stack]

    def plan(self, ctx: protocol.StackContext) -> plans.Plan:
        return self._plan(ctx, "plan")

    def drift(self, ctx: protocol.StackContext) -> plans.Plan:
        return self._plan(ctx, "drift")

    def _plan(self, ctx: protocol.StackContext, kind: str) -> plans.Plan:
        with self._lock:
            self.calls.append((ctx.stack.name, kind, ctx.revision))
            self.inputs[(ctx.stack.name, kind)] = {name: item.value for name, item in ctx.inputs.items()}
        if (ctx.stack_dir / "FAIL_PLAN").exists():
            raise protocol.EngineError(f"stack {ctx.stack.name}: planning failed on purpose")
        wanted = _wanted(ctx)
        state = read_state(ctx.state_dir)
        current = state.get("digest")
        changes: tuple[plans.Change, ...] = ()
        if current != wanted:
            action = plans.Action.CREATE if current is None else plans.Action.UPDATE
            changes = (plans.Change(address=f"fake.{ctx.stack.name}", action=action, resource_type="fake"),)
        if ctx.on_output is not None:
            ctx.on_output(f"{kind} {ctx.stack.name}: {len(changes)} change(s)")
        return plans.Plan(
            stack=ctx.stack.name,
            engine=self.name,
            revision=ctx.revision,
            changes=changes,
            summary=plans.summarize(changes),
            output=f"{len(changes)} change(s)",
            artifact=str(ctx.state_dir / "plan"),
            fingerprint=json.dumps([current, wanted, ctx.revision]),
        )

    def apply(self, ctx: protocol.StackContext, plan: plans.Plan) -> runs.RunResult:
        with self._lock:
            self.calls.append((ctx.stack.name, "apply", ctx.revision))
            self.inputs[(ctx.stack.name, "apply")] = {name: item.value for name, item in ctx.inputs.items()}
        started = datetime.now(UTC)
        hold = self.holds.get(ctx.stack.name)
        if hold is not None:
            self.applying[ctx.stack.name].set()
            while not hold.wait(0.02):
                if ctx.cancel.is_set():
                    return self._result(ctx, plan, started, runs.RunStatus.CANCELLED, "cancelled")
        current, wanted, revision = json.loads(plan.fingerprint)
        state = read_state(ctx.state_dir)
        if revision != ctx.revision or state.get("digest") != current:
            return self._result(
                ctx, plan, started, runs.RunStatus.FAILED, "refused to apply: the plan is stale"
            )
        if (ctx.stack_dir / "FAIL_APPLY").exists():
            return self._result(ctx, plan, started, runs.RunStatus.FAILED, "apply failed on purpose")
        (ctx.state_dir / STATE_FILE).write_text(json.dumps({"digest": wanted, "revision": ctx.revision}))
        found = ctx.stack_dir / "outputs.json"
        reported = json.loads(found.read_text()) if found.is_file() else {}
        result = self._result(ctx, plan, started, runs.RunStatus.SUCCEEDED, "")
        return replace(
            result,
            outputs=tuple(
                outputs.Output(name=name, value=item["value"], sensitive=bool(item.get("sensitive", False)))
                for name, item in sorted(reported.items())
            ),
        )

    def _result(
        self,
        ctx: protocol.StackContext,
        plan: plans.Plan,
        started: datetime,
        status: runs.RunStatus,
        error: str,
    ) -> runs.RunResult:
        return runs.RunResult(
            stack=ctx.stack.name,
            kind=runs.RunKind.APPLY,
            status=status,
            revision=ctx.revision,
            started_at=started,
            finished_at=datetime.now(UTC),
            plan=plan,
            output="applied" if not error else "",
            error=error,
        )

    def version(self) -> str | None:
        return "fake 1.0"
