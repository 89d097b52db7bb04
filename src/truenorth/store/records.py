"""What the store hands back: one run, one stack's controller state.

Records are frozen snapshots of rows, in plain JSON-compatible values, so that every
reader (controller, API, CLI, UI) can show history without knowing the database. The
store sits below ``truenorth.core`` and must not import it: run kinds and statuses are
plain strings here, spelled exactly like the values of ``core.runs.RunKind`` and
``core.runs.RunStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ACTIVE_STATUSES",
    "DEPLOYED_STATUSES",
    "FINISHED_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "STACK_FIELDS",
    "RunBrief",
    "RunRecord",
    "StackBrief",
    "StackOverview",
    "StackRecord",
]

#: Operations a run can perform.
RUN_KINDS = ("plan", "apply", "drift")
#: Every status a run can have.
RUN_STATUSES = ("pending", "running", "succeeded", "failed", "partial", "interrupted", "cancelled", "skipped")
#: Statuses of a run still in flight.
ACTIVE_STATUSES = ("pending", "running")
#: Statuses a run can end in.
FINISHED_STATUSES = tuple(s for s in RUN_STATUSES if s not in ACTIVE_STATUSES)
#: Statuses of an apply that changed what is deployed.
DEPLOYED_STATUSES = ("succeeded", "partial")
#: Stack state fields that :meth:`Store.upsert_stack` accepts.
STACK_FIELDS = (
    "engine",
    "sync_state",
    "health",
    "applied_revision",
    "applied_at",
    "last_run_id",
    "pending_plan_id",
    "error",
)


@dataclass(frozen=True)
class RunRecord:
    """One recorded plan, apply or drift check of one stack.

    ``repository`` is the tracked repository's key, opaque to the store (the controller
    writes ``<normalized URL>#<branch>``: a repository is a URL and a branch; schema 0002
    moved older per-URL keys to ``#main``). Datetimes are timezone-aware UTC.
    ``summary``, ``changes`` and ``hosts`` are the JSON values the controller stored
    (already redacted). ``plan_id`` is the plan run an apply used; ``holder`` names the
    controller process that ran it.
    """

    id: int
    stack: str
    repository: str
    revision: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any]
    changes: list[Any]
    hosts: list[Any]
    output: str
    error: str
    actor: str | None
    reason: str | None
    plan_id: int | None
    holder: str | None

    @property
    def finished(self) -> bool:
        """True once the run can no longer change."""
        return self.status not in ACTIVE_STATUSES


@dataclass(frozen=True)
class StackRecord:
    """The controller's view of one stack of one repository.

    ``sync_state`` and ``health`` are the controller's words, the values of
    ``core.states.SyncState`` and ``core.states.Health`` (``"unknown"`` and ``"Unknown"``
    until it has looked; rows of older versions may say ``"unknown"`` for health, which
    ``Health.parse`` reads); ``pending_plan_id`` is a plan waiting for approval; ``updated_at`` is when
    this record last changed.
    """

    repository: str
    name: str
    engine: str
    sync_state: str
    health: str
    applied_revision: str | None
    applied_at: datetime | None
    last_run_id: int | None
    pending_plan_id: int | None
    error: str
    updated_at: datetime


@dataclass(frozen=True)
class StackBrief:
    """A stack's key and states only: what filtering and counting many stacks needs."""

    repository: str
    name: str
    engine: str
    sync_state: str
    health: str


@dataclass(frozen=True)
class RunBrief:
    """A run without its summary, changes, hosts and output."""

    id: int
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class StackOverview:
    """One stack's state with its last run in brief, as one overview page shows it."""

    stack: StackRecord
    last_run: RunBrief | None
