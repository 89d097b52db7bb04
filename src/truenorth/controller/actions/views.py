"""What the controller shows about repositories, stacks and runs: frozen, typed, redacted.

The API and the web UI read these views and never the controller's moving parts or the
store. They are built by :mod:`.reading` from the store's records plus what only the
running controller knows (the newest revision seen, a source error, drift found by the
last check, whether an operation holds a stack). Repositories are named as configured,
never by their store key; states are :mod:`truenorth.core.states` enums, run kinds and
statuses :mod:`truenorth.core.runs` enums; times stay timezone-aware ``datetime`` until
the server writes its JSON. The queries the API asks with are here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from truenorth.core import ids, runs, states

__all__ = [
    "CommitView",
    "InputView",
    "LogPage",
    "OutputView",
    "OutputsView",
    "RepositoryView",
    "RunBrief",
    "RunDetail",
    "RunPage",
    "RunQuery",
    "RunView",
    "SourceError",
    "StackPage",
    "StackQuery",
    "StackView",
]


@dataclass(frozen=True)
class RepositoryView:
    """One tracked repository as the controller sees it now."""

    name: str
    #: The URL with any credential removed.
    url: str
    branch: str
    #: The newest full SHA seen on the branch (also when that revision is invalid).
    revision: str | None
    #: Why the repository cannot be used right now (git unreachable, invalid revision); redacted.
    source_error: str | None
    last_fetch_at: datetime | None
    last_check_at: datetime | None
    #: Where its runs and stacks are stored: ``<normalized URL>#<branch>`` (never shown by the API).
    store_key: ids.RepositoryKey
    #: The newest *valid* revision, the one stacks are planned from.
    valid_revision: str | None = None


@dataclass(frozen=True)
class CommitView:
    """The commit a stack is applied at: who, when, what."""

    sha: str
    author: str | None = None
    #: The author date, in the author's time zone.
    date: datetime | None = None
    subject: str | None = None


@dataclass(frozen=True)
class RunBrief:
    """A stack's most recent run, in brief."""

    id: ids.RunId
    kind: runs.RunKind
    status: runs.RunStatus
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class InputView:
    """One input of a stack as its current plan used it: where it came from, its value shown.

    ``value`` is the value as it may be shown: masked when sensitive, None when it was
    not known yet (``shown`` then says "(known after network applies)").
    """

    name: str
    #: ``STACK.OUTPUT``.
    source: str
    known: bool
    sensitive: bool
    value: Any
    shown: str


@dataclass(frozen=True)
class OutputView:
    """One output of a stack's last successful apply; a sensitive value is masked."""

    name: str
    value: Any
    sensitive: bool
    #: The revision whose apply recorded it.
    revision: str | None = None


@dataclass(frozen=True)
class OutputsView:
    """The recorded outputs of one stack, by name."""

    repository: str
    stack: str
    items: tuple[OutputView, ...]


@dataclass(frozen=True)
class StackView:
    """One stack of one repository: desired and applied revision, sync state, health, drift."""

    #: The repository's configured name.
    repository: str
    name: str
    engine: str
    sync_state: states.SyncState
    health: states.Health
    drift: bool
    auto_apply: bool
    self_heal: bool
    depends_on: tuple[str, ...]
    applied_revision: str | None
    #: Author, date and subject of ``applied_revision`` when known.
    applied_commit: CommitView | None
    desired_revision: str | None
    last_run: RunBrief | None
    pending_plan_run_id: ids.RunId | None
    error: str | None
    #: True while an operation holds the stack (another action would conflict).
    busy: bool = False
    applied_at: datetime | None = None
    #: Why the stack's repository cannot be used right now (its newest ``truenorth.yaml``
    #: was refused, git fails, the branch moved back): the same as the repository's.
    source_error: str | None = None
    #: The inputs its current plan was made with (filled for one stack, not for pages).
    inputs: tuple[InputView, ...] = ()
    #: Its recorded outputs, masked (filled for one stack, not for pages).
    outputs: tuple[OutputView, ...] = ()
    #: The stacks of its repository whose ``depends_on`` names it, in declaration order,
    #: from the whole spec (filled for one stack, not for pages).
    dependents: tuple[str, ...] = ()
    #: Author, date and subject of ``desired_revision`` when known.
    desired_commit: CommitView | None = None


@dataclass(frozen=True)
class StackQuery:
    """Which stacks one page of the overview shows: filters (all optional, all must hold) and paging."""

    #: A repository's configured name.
    repository: str | None = None
    engine: str | None = None
    #: A sync state as written (``out-of-sync``).
    sync_state: str | None = None
    #: A health, in any letter case.
    health: str | None = None
    #: Part of the stack's name, in any letter case.
    name_contains: str | None = None
    offset: int = 0
    limit: int = 100
    #: ``None``: repository order, then declaration order; ``"name"``; ``"state"`` (the
    #: sync states that need someone first: failed, pending approval, out of sync, ...).
    sort: str | None = None


@dataclass(frozen=True)
class SourceError:
    """A repository whose source cannot be used right now, and why."""

    repository: str
    error: str


@dataclass(frozen=True)
class StackPage:
    """One page of stacks, in repository order (as configured), then declaration order.

    A repository without a valid revision yet shows the stacks it has recorded, by name.
    """

    items: tuple[StackView, ...]
    #: How many stacks match the query (on every page).
    total: int
    #: The repositories (of the query's repository) whose source is in error, also when
    #: they have no stack to show yet.
    source_errors: tuple[SourceError, ...] = ()


@dataclass(frozen=True)
class RunView:
    """One plan, apply or drift check; ``summary`` as recorded (the server picks what it shows)."""

    id: ids.RunId
    stack: str
    #: The repository's configured name (its store key when no configured repository has it).
    repository: str
    revision: str
    kind: runs.RunKind
    status: runs.RunStatus
    started_at: datetime
    finished_at: datetime | None
    summary: Mapping[str, Any]
    error: str
    actor: str | None
    reason: str | None
    plan_id: ids.RunId | None

    @property
    def finished(self) -> bool:
        """True once the run can no longer change."""
        return self.status not in (runs.RunStatus.PENDING, runs.RunStatus.RUNNING)


@dataclass(frozen=True)
class RunDetail(RunView):
    """A run with its changes, per-host results and final output (all redacted when recorded)."""

    changes: tuple[Any, ...] = ()
    hosts: tuple[Any, ...] = ()
    output: str = ""


@dataclass(frozen=True)
class RunQuery:
    """Which runs one page shows, newest first: filters (all optional) and paging."""

    stack: str | None = None
    #: A repository's configured name.
    repository: str | None = None
    kind: runs.RunKind | None = None
    status: runs.RunStatus | None = None
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first."""

    items: tuple[RunView, ...]
    #: How many runs match the query.
    total: int


@dataclass(frozen=True)
class LogPage:
    """Lines of a run's log numbered after the asked one, in order, and whether the run ended."""

    run_id: ids.RunId
    #: ``(seq, line)``; ``seq`` counts from 1 within the run.
    lines: tuple[tuple[int, str], ...]
    finished: bool
