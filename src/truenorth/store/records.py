"""What the store hands back: one run, one stack's controller state.

Records are frozen snapshots of rows, in plain JSON-compatible values, so that every
reader (controller, API, CLI, UI) can show history without knowing the database. The
store sits below ``truenorth.core`` and must not import it: run kinds and statuses are
plain strings here, spelled exactly like the values of ``core.runs.RunKind`` and
``core.runs.RunStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "ACTIVE_STATUSES",
    "DEPLOYED_STATUSES",
    "FINISHED_STATUSES",
    "MERGE_REQUEST_STATES",
    "REQUEST_ACTIONS",
    "REQUEST_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "STACK_FIELDS",
    "LeaseRecord",
    "MergeRequestRecord",
    "OutputItem",
    "OutputRecord",
    "PublicationRecord",
    "ReplicaRecord",
    "RequestRecord",
    "RunBrief",
    "RunRecord",
    "StackBrief",
    "StackFileRecord",
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
#: What one replica can ask of a repository's owner (``fetch``: a push webhook arrived;
#: ``merge-request``: a merge-request webhook, its event in the arguments).
REQUEST_ACTIONS = ("fetch", "refresh", "sync", "approve", "rollback", "merge-request")
#: A request waits (``pending``), is being worked on (``taken``), then ends.
REQUEST_STATUSES = ("pending", "taken", "done", "failed")
#: A stored merge request: open, or merged with its report still to write.
MERGE_REQUEST_STATES = ("open", "merged")
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
    """One stack's state with its last run in brief, as one overview page shows it.

    ``active``: a run of the stack is in flight (pending or running), whichever replica
    runs it (its last run is set only when a run ends).
    """

    stack: StackRecord
    last_run: RunBrief | None
    active: bool = False


class OutputItem(Protocol):
    """What :meth:`Store.replace_outputs` takes for one output: ``core.outputs.Output`` fits.

    A protocol, not the core class: the store sits below ``truenorth.core``.
    """

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> Any: ...

    @property
    def sensitive(self) -> bool: ...


@dataclass(frozen=True)
class OutputRecord:
    """One recorded output of one stack's last successful apply.

    ``value`` is the JSON value, or None for a sensitive output: its value is only in
    ``sealed`` (encrypted; never in ``repr``), opened by :meth:`Store.reveal` only to hand
    it to a dependent's engine. ``digest`` is SHA-256 of the canonical JSON, keyed (HMAC)
    for a sensitive output. ``revision`` and ``run_id`` name the apply that produced it.
    """

    name: str
    value: Any
    sensitive: bool
    digest: str
    revision: str
    run_id: int | None
    updated_at: datetime
    sealed: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StackFileRecord:
    """One engine state file of one stack, as replicas share it (the Kubernetes inventory).

    ``name`` is a plain file name in the stack's state dir; ``content`` its bytes (never
    in ``repr``); ``digest`` their SHA-256 (hex); ``updated_at`` when they last changed.
    """

    repository: str
    stack: str
    name: str
    digest: str
    updated_at: datetime
    content: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class MergeRequestRecord:
    """A merge request a repository's owner acts on (``store/merge_requests.py``).

    ``project`` is the base (target) project, ``head_repo`` the head's (another one for a
    fork; "" when the forge no longer knows it), ``target_branch`` the branch it merges
    into. ``state`` is ``open`` or ``merged`` (the report after the merge is still to be
    written; ``merge_sha`` is the merge commit when the forge said). ``comment_id`` is
    truenorth's one comment on it once written; ``last_order`` the newest routed request
    acted on (None on one controller). ``holder`` wrote it at ``updated_at``.
    """

    repository: str
    number: int
    state: str
    forge: str
    project: str
    head_repo: str
    head_sha: str
    head_ref: str
    target_branch: str
    author: str
    author_association: str | None
    title: str
    url: str
    merge_sha: str | None
    comment_id: int | None
    last_order: int | None
    holder: str
    updated_at: datetime


@dataclass(frozen=True)
class PublicationRecord:
    """What the owner of one repository published of it (``store/publications.py``).

    ``holder`` wrote it at ``updated_at``. ``valid_revision`` is the newest valid revision
    and ``spec_text`` its ``truenorth.yaml`` (None when the reader already had it parsed,
    or the owner has no valid revision; never in ``repr``); ``desired_revision`` the newest
    revision seen. The errors were redacted by the owner. ``drifted``: the stacks whose
    last drift check found drift; ``commits``: commit details by full SHA (``sha``,
    ``author``, ``date`` as ISO 8601, ``subject``).
    """

    repository: str
    holder: str
    valid_revision: str | None
    desired_revision: str | None
    source_error: str | None
    revision_error: str | None
    last_fetch_at: datetime | None
    last_check_at: datetime | None
    drifted: tuple[str, ...]
    commits: dict[str, dict[str, Any]]
    updated_at: datetime
    spec_text: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReplicaRecord:
    """One controller sharing the store: its id (the runs' ``holder``), where it answers
    (``address``, for routing; may be empty), when it started and last said it was alive."""

    id: str
    address: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class LeaseRecord:
    """One repository's lease as it stands after a take, renew or read.

    ``holder`` is ``""`` when nobody holds it; ``previous_holder`` held it before the last
    change of hands (``""``: nobody, or it was released); ``epoch`` counts the changes of
    hands. Times are the database server's (PostgreSQL ``now()``), never a replica's.
    """

    repository: str
    holder: str
    previous_holder: str
    epoch: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def taken_over_from(self, replica: str) -> str | None:
        """The replica whose expired lease ``replica`` just took, or None (fresh, released, own)."""
        if self.holder != replica or not self.previous_holder or self.previous_holder == replica:
            return None
        return self.previous_holder


@dataclass(frozen=True)
class RequestRecord:
    """Work one replica asked of a repository's owner (a webhook's fetch, or an action).

    ``stack`` is ``""`` for a repository-wide request (``fetch``, a repository refresh);
    ``arguments`` and ``outcome`` are small JSON objects (a rollback's revision and
    reason; the run ids an action started, or its error). ``dedup``: the forge delivery
    it carries (``<forge>:<delivery id>``), recorded once per repository; else None.
    """

    id: int
    repository: str
    stack: str
    action: str
    arguments: dict[str, Any]
    actor: str | None
    requested_by: str
    requested_at: datetime
    status: str
    taken_by: str | None
    taken_at: datetime | None
    finished_at: datetime | None
    outcome: dict[str, Any]
    dedup: str | None = None

    @property
    def finished(self) -> bool:
        """True once the owner has answered it."""
        return self.status in ("done", "failed")
