"""The outcome of one engine operation on one stack: a plan, an apply or a drift check.

Results are frozen and engine-neutral so that the controller can record them and every
reader (CLI, API, UI) can show them without knowing which engine produced them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from truenorth.core import outputs as stack_outputs
from truenorth.core import plans, states

__all__ = ["HostResult", "HostStatus", "RunKind", "RunResult", "RunStatus"]


class RunKind(enum.StrEnum):
    """Which operation a run performed."""

    PLAN = "plan"
    APPLY = "apply"
    DRIFT = "drift"


class RunStatus(enum.StrEnum):
    """Where a run ended (or is): ansible-runner's statuses in truenorth's words."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Some hosts converged, others failed or were unreachable.
    PARTIAL = "partial"
    #: The controller died while the run was in flight (found at the next start).
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    #: Not run because a dependency failed.
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        """True once the run can no longer change."""
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)

    @property
    def deployed(self) -> bool:
        """True for an apply that changed the live system to its revision, fully or partly
        (the stack is then applied at that revision)."""
        return self in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


class HostStatus(enum.StrEnum):
    """Per-host outcome of an apply on a per-host engine."""

    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class HostResult:
    """Counts and outcome for one host of one run (Ansible's ``playbook_on_stats``)."""

    host: str
    status: HostStatus
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form."""
        return {
            "host": self.host,
            "status": self.status.value,
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class RunResult:
    """What an engine reports after an operation. ``output`` and ``error`` are redacted."""

    stack: str
    kind: RunKind
    status: RunStatus
    revision: str
    started_at: datetime
    finished_at: datetime
    plan: plans.Plan | None = None
    output: str = ""
    error: str = ""
    hosts: tuple[HostResult, ...] = ()
    #: The engine's own verdict on the live system's health after an apply (None: it gives
    #: none, and the controller derives it from ``status``).
    health: states.Health | None = None
    #: The stack's outputs after a successful apply (sensitive values in memory only).
    outputs: tuple[stack_outputs.Output, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the operation fully succeeded."""
        return self.status is RunStatus.SUCCEEDED
