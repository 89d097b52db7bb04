"""What the controller shows about a repository and a stack: frozen, redacted, JSON-ready.

The API and the CLI read these views and never the controller's moving parts. They are
built from the store's records plus what only the running controller knows (the newest
revision seen, a source error, drift found by the last check).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["RepositoryView", "StackView"]


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
    #: The newest *valid* revision, the one stacks are planned from.
    valid_revision: str | None = None
    #: The store key of this repository's runs and stacks: ``<normalized URL>#<branch>``.
    store_key: str = ""


@dataclass(frozen=True)
class StackView:
    """One stack of one repository: desired and applied revision, sync state, health, drift."""

    repository: str
    name: str
    engine: str
    #: synced | out-of-sync | pending-approval | applying | failed | unknown
    sync_state: str
    #: Healthy | Progressing | Degraded | Suspended | Missing | Unknown
    health: str
    drift: bool
    auto_apply: bool
    self_heal: bool
    depends_on: tuple[str, ...]
    applied_revision: str | None
    #: ``{"sha", "author", "date", "subject"}`` of ``applied_revision`` when known.
    applied_commit: dict[str, Any] | None
    desired_revision: str | None
    #: ``{"id", "kind", "status", "started_at", "finished_at"}`` (datetimes as ISO 8601 text).
    last_run: dict[str, Any] | None
    pending_plan_run_id: int | None
    error: str | None
    #: True while an operation holds the stack (another action would conflict).
    busy: bool = False
    applied_at: datetime | None = None
    #: Why the stack's repository cannot be used right now (its newest ``truenorth.yaml``
    #: was refused, git fails, the branch moved back): the same as the repository's.
    source_error: str | None = None
