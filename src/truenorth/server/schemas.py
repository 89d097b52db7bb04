"""The API's JSON shapes, as Pydantic models: they are the OpenAPI document.

Every response of ``/api/v1`` is one of these models, so ``/api/v1/openapi.json``
describes exactly what clients get. They hold only what is safe to show: no token, no
webhook secret, no Git credential, no plan artifact path or fingerprint. Times are ISO
8601 in UTC; revisions are full 40-character SHAs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "Accepted",
    "Commit",
    "Counts",
    "Error",
    "LogLine",
    "PlanOut",
    "Repository",
    "RepositoryList",
    "RollbackRequest",
    "Run",
    "RunDetail",
    "RunLog",
    "RunPage",
    "RunRef",
    "SourceError",
    "Stack",
    "StackDetail",
    "StackInput",
    "StackOutput",
    "StackOutputs",
    "StackPage",
    "WebhookResult",
]


class Error(BaseModel):
    """Every error answer: a human-readable reason."""

    detail: str


class Repository(BaseModel):
    """A tracked repository and the state of its source."""

    name: str
    url: str = Field(description="Credential-free URL.")
    branch: str
    revision: str | None = Field(description="Newest full SHA seen on the branch.")
    valid_revision: str | None = Field(
        default=None, description="Newest revision whose truenorth.yaml is valid."
    )
    source_error: str | None
    last_fetch_at: datetime | None
    last_check_at: datetime | None


class RepositoryList(BaseModel):
    items: list[Repository]


class Commit(BaseModel):
    sha: str
    author: str | None = None
    date: str | None = None
    subject: str | None = None


class RunRef(BaseModel):
    """A stack's most recent run, in brief."""

    id: int
    kind: str
    status: str
    started_at: str | None = None
    finished_at: str | None = None


class Stack(BaseModel):
    """One stack: what is deployed, what Git wants, and how it is doing."""

    repository: str
    name: str
    engine: str
    sync_state: str = Field(
        description="synced | out-of-sync | pending-approval | applying | failed | unknown"
    )
    health: str = Field(description="Healthy | Progressing | Degraded | Suspended | Missing | Unknown")
    drift: bool
    auto_apply: bool
    self_heal: bool
    depends_on: list[str]
    applied_revision: str | None
    applied_commit: Commit | None
    applied_at: datetime | None = None
    desired_revision: str | None
    desired_commit: Commit | None = Field(
        default=None, description="Author, date and subject of desired_revision, when known."
    )
    last_run: RunRef | None
    pending_plan_run_id: int | None
    busy: bool = False
    error: str | None
    source_error: str | None = Field(
        default=None,
        description="Why the stack's repository cannot be used right now (its newest truenorth.yaml "
        "was refused, Git fails): nothing of it is planned or applied meanwhile.",
    )


class StackInput(BaseModel):
    """One input of a stack (``inputs:``), as its current plan was made with it."""

    name: str
    source: str = Field(description="Where it comes from: STACK.OUTPUT.")
    known: bool = Field(description="False while the upstream stack has not applied it yet.")
    sensitive: bool
    value: Any = Field(description="The value; (sensitive value) when sensitive, null when not known yet.")
    shown: str = Field(
        description='As plans show it: JSON, "(sensitive value)" or "(known after X applies)".'
    )


class StackOutput(BaseModel):
    """One output of a stack's last successful apply."""

    name: str
    value: Any = Field(description="The value; (sensitive value) when sensitive (never shown).")
    sensitive: bool
    revision: str | None = Field(default=None, description="The revision whose apply recorded it.")


class StackOutputs(BaseModel):
    """A stack's recorded outputs, by name."""

    repository: str
    stack: str
    outputs: list[StackOutput]


class StackDetail(Stack):
    """One stack, with the inputs its current plan used and its recorded outputs (masked)."""

    inputs: list[StackInput] = Field(default_factory=list)
    outputs: list[StackOutput] = Field(default_factory=list)
    dependents: list[str] = Field(
        default_factory=list,
        description="The stacks of its repository whose depends_on names it (from the whole spec).",
    )


class SourceError(BaseModel):
    """A repository whose source cannot be used right now, and why."""

    repository: str
    source_error: str


class StackPage(BaseModel):
    items: list[Stack]
    total: int
    limit: int
    offset: int
    source_errors: list[SourceError] = Field(
        default_factory=list,
        description="Repositories (of the filter) whose source is in error, also when they have no "
        "stack to show yet (their first truenorth.yaml was refused).",
    )


class Counts(BaseModel):
    """How many stacks are in each state (the top of the overview)."""

    total: int
    sync_state: dict[str, int] = Field(description="Stacks per sync state (every state named).")
    health: dict[str, int] = Field(description="Stacks per health (every health named).")


class Run(BaseModel):
    """One plan, apply or drift check."""

    id: int
    stack: str
    repository: str
    revision: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any]
    error: str
    actor: str | None
    reason: str | None
    plan_id: int | None


class RunDetail(Run):
    """A run with its changes, per-host results and final output."""

    changes: list[Any]
    hosts: list[Any]
    output: str


class RunPage(BaseModel):
    items: list[Run]
    total: int
    limit: int
    offset: int


class PlanOut(BaseModel):
    """A stack's current plan: what applying it would change."""

    run_id: int
    stack: str
    repository: str
    revision: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any]
    changes: list[Any]
    error: str
    inputs: list[Any] = Field(
        default_factory=list,
        description="The inputs the plan was made with: name, source (STACK.OUTPUT), known, sensitive, "
        "value (masked when sensitive), digest.",
    )


class LogLine(BaseModel):
    seq: int
    line: str


class RunLog(BaseModel):
    run_id: int
    lines: list[LogLine]
    next_after: int = Field(description="Pass as ?after= to read on.")
    finished: bool


class Accepted(BaseModel):
    """An action was queued; follow it at ``/api/v1/runs/{run_id}``."""

    run_id: int


class RollbackRequest(BaseModel):
    revision: str = Field(
        pattern=r"^[0-9a-fA-F]{7,64}$", description="An earlier applied revision of the stack."
    )
    reason: str = Field(min_length=1, max_length=2000, description="Why: recorded with the run.")


class WebhookResult(BaseModel):
    """What a webhook did."""

    event: str
    triggered: list[str] = Field(default_factory=list, description="Repositories whose reconcile started.")
    duplicate: bool = False
    ignored: bool = False
