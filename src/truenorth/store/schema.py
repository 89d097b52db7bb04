"""The tables of the state database, declared once for SQLite and PostgreSQL alike.

``runs`` is the history (one row per plan, apply or drift check), ``run_logs`` the live
output of a run as append-only numbered lines, ``stacks`` the controller's current view
of each stack. Only portable types are used: ``JSON``, ``Text``, bounded ``String`` and
:class:`UTCDateTime`, which stores timezone-aware UTC on both backends (SQLite keeps
no offset, so values are normalized to UTC on the way in and marked UTC on the way out).
The migrations in ``migrations/versions`` create exactly these tables; a test compares
the two. ``replicas``, ``leases`` and ``requests`` are how several controllers share
one PostgreSQL store (``store/leasing.py``, ``store/requesting.py``); ``stack_files``
holds the engine state files they share (``store/filing.py``), ``publications``
what each repository's owner knows for the others (``store/publications.py``),
``merge_requests`` the open merge requests an owner acts on (``store/merge_requests.py``)
and ``drift_announcements`` the drifts announced and not yet resolved
(``store/announcements.py``). ``repository`` in
``runs`` and ``stacks`` is a tracked repository's key, one string (``<normalized
URL>#<branch>``, readable in SQL), so that the store's arguments stay one value per
repository.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from truenorth.store import records

__all__ = [
    "Base",
    "DriftAnnouncementRow",
    "LeaseRow",
    "MergeRequestRow",
    "PublicationRow",
    "ReplicaRow",
    "RequestRow",
    "RunLogRow",
    "RunRow",
    "StackFileRow",
    "StackOutputRow",
    "StackRow",
    "UTCDateTime",
]

#: Lengths, shared with the argument checks.
STACK_LENGTH = 63
REPOSITORY_LENGTH = 1024
# 40 for SHA-1 object names, 64 for repositories in Git's SHA-256 object format.
REVISION_LENGTH = 64
NAME_LENGTH = 255
STATE_LENGTH = 32
#: A SHA-256 or HMAC-SHA256 digest, hex.
DIGEST_LENGTH = 64
#: A forge's project, branch or user name (what ``forges/hooks.py`` keeps of one).
TEXT_LENGTH = 1024
#: A merge request's title and link, as shown (cut to this; never matched on).
SHOWN_LENGTH = 256


def _allowed(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store keeps timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(orm.DeclarativeBase):
    """Declarative base with stable constraint names (the migration uses the same)."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class RunRow(Base):
    """One plan, apply or drift check of one stack."""

    __tablename__ = "runs"
    __table_args__ = (
        sa.CheckConstraint(_allowed("kind", records.RUN_KINDS), name="kind"),
        sa.CheckConstraint(_allowed("status", records.RUN_STATUSES), name="status"),
        sa.Index(None, "stack", "started_at"),
        sa.Index(None, "repository", "stack", "kind", "status"),
        sa.Index(None, "started_at"),
        # Ids are never reused on SQLite either, so a run's URL never names another run.
        {"sqlite_autoincrement": True},
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    stack: orm.Mapped[str] = orm.mapped_column(sa.String(STACK_LENGTH))
    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH))
    revision: orm.Mapped[str] = orm.mapped_column(sa.String(REVISION_LENGTH))
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    started_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())
    finished_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime(), nullable=True)
    summary: orm.Mapped[dict[str, Any]] = orm.mapped_column(sa.JSON)
    changes: orm.Mapped[list[Any]] = orm.mapped_column(sa.JSON)
    hosts: orm.Mapped[list[Any]] = orm.mapped_column(sa.JSON)
    output: orm.Mapped[str] = orm.mapped_column(sa.Text)
    error: orm.Mapped[str] = orm.mapped_column(sa.Text)
    actor: orm.Mapped[str | None] = orm.mapped_column(sa.String(NAME_LENGTH), nullable=True)
    reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    plan_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    holder: orm.Mapped[str | None] = orm.mapped_column(sa.String(NAME_LENGTH), nullable=True)


class RunLogRow(Base):
    """One line of a run's live output; ``seq`` counts from 1 within the run."""

    __tablename__ = "run_logs"

    run_id: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    line: orm.Mapped[str] = orm.mapped_column(sa.Text)


class StackRow(Base):
    """The controller's state of one stack of one repository."""

    __tablename__ = "stacks"

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(STACK_LENGTH), primary_key=True)
    engine: orm.Mapped[str] = orm.mapped_column(sa.String(STATE_LENGTH))
    sync_state: orm.Mapped[str] = orm.mapped_column(sa.String(STATE_LENGTH))
    health: orm.Mapped[str] = orm.mapped_column(sa.String(STATE_LENGTH))
    applied_revision: orm.Mapped[str | None] = orm.mapped_column(sa.String(REVISION_LENGTH), nullable=True)
    applied_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime(), nullable=True)
    last_run_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    pending_plan_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    error: orm.Mapped[str] = orm.mapped_column(sa.Text)
    updated_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class StackOutputRow(Base):
    """One output of one stack's last successful apply.

    A sensitive output's ``value`` is NULL: the value is only in ``sealed`` (Fernet, under
    a key kept outside the database, :mod:`truenorth.store.sealing`) and its ``digest`` is
    keyed (HMAC). A non-sensitive one has its JSON value and a plain SHA-256 digest.
    """

    __tablename__ = "stack_outputs"

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    stack: orm.Mapped[str] = orm.mapped_column(sa.String(STACK_LENGTH), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH), primary_key=True)
    # None is SQL NULL (not JSON 'null'): a sensitive output's row holds no value at all.
    value: orm.Mapped[Any | None] = orm.mapped_column(sa.JSON(none_as_null=True), nullable=True)
    sensitive: orm.Mapped[bool] = orm.mapped_column(sa.Boolean)
    sealed: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    digest: orm.Mapped[str] = orm.mapped_column(sa.String(DIGEST_LENGTH))
    revision: orm.Mapped[str] = orm.mapped_column(sa.String(REVISION_LENGTH))
    run_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class StackFileRow(Base):
    """One engine state file of one stack that replicas share (``store/filing.py``).

    ``content`` is the file's bytes (bounded by the store), ``digest`` their SHA-256 (hex).
    """

    __tablename__ = "stack_files"

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    stack: orm.Mapped[str] = orm.mapped_column(sa.String(STACK_LENGTH), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH), primary_key=True)
    content: orm.Mapped[bytes] = orm.mapped_column(sa.LargeBinary)
    digest: orm.Mapped[str] = orm.mapped_column(sa.String(DIGEST_LENGTH))
    updated_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class PublicationRow(Base):
    """What the owner of one repository knows of it, for the replicas that do not own it
    (``store/publications.py``): written by the lease holder, only when it changed."""

    __tablename__ = "publications"

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    holder: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH))
    valid_revision: orm.Mapped[str | None] = orm.mapped_column(sa.String(REVISION_LENGTH), nullable=True)
    desired_revision: orm.Mapped[str | None] = orm.mapped_column(sa.String(REVISION_LENGTH), nullable=True)
    #: The ``truenorth.yaml`` of ``valid_revision``, as validated (at most 1 MiB).
    spec_text: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    source_error: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    revision_error: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    last_fetch_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime(), nullable=True)
    last_check_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime(), nullable=True)
    #: Names of the stacks whose last drift check found drift.
    drifted: orm.Mapped[list[str]] = orm.mapped_column(sa.JSON)
    #: Details of the commits the owner's views name, by full SHA.
    commits: orm.Mapped[dict[str, Any]] = orm.mapped_column(sa.JSON)
    updated_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class MergeRequestRow(Base):
    """One merge request a repository's owner acts on (``store/merge_requests.py``): what a
    preview, a ``/truenorth plan`` comment or the report after the merge needs, whichever
    replica holds the repository and after a restart. ``state`` is ``open`` or ``merged``
    (the merge's report is still to be written); a closed one, or a merged one reported, is
    deleted."""

    __tablename__ = "merge_requests"
    __table_args__ = (sa.CheckConstraint(_allowed("state", records.MERGE_REQUEST_STATES), name="state"),)

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    number: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    forge: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    #: The base (target) project, and the head's (another for a fork, "" when unknown).
    project: orm.Mapped[str] = orm.mapped_column(sa.String(TEXT_LENGTH))
    head_repo: orm.Mapped[str] = orm.mapped_column(sa.String(TEXT_LENGTH))
    head_sha: orm.Mapped[str] = orm.mapped_column(sa.String(REVISION_LENGTH))
    head_ref: orm.Mapped[str] = orm.mapped_column(sa.String(TEXT_LENGTH))
    target_branch: orm.Mapped[str] = orm.mapped_column(sa.String(TEXT_LENGTH))
    author: orm.Mapped[str] = orm.mapped_column(sa.String(TEXT_LENGTH))
    author_association: orm.Mapped[str | None] = orm.mapped_column(sa.String(TEXT_LENGTH), nullable=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(SHOWN_LENGTH))
    url: orm.Mapped[str] = orm.mapped_column(sa.String(SHOWN_LENGTH))
    merge_sha: orm.Mapped[str | None] = orm.mapped_column(sa.String(REVISION_LENGTH), nullable=True)
    #: The id of truenorth's one comment on it, once written.
    comment_id: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    #: The newest order (routed request id) acted on; None: not routed (one controller).
    last_order: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    holder: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH))
    updated_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class DriftAnnouncementRow(Base):
    """A stack whose drift was announced and not yet resolved (the drift-once rule,
    ``notify/drifts.py``): one row per drift episode, kept across restarts and replicas."""

    __tablename__ = "drift_announcements"

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    stack: orm.Mapped[str] = orm.mapped_column(sa.String(STACK_LENGTH), primary_key=True)
    revision: orm.Mapped[str] = orm.mapped_column(sa.String(REVISION_LENGTH))
    announced_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class ReplicaRow(Base):
    """One running controller sharing the store, alive while its heartbeat is recent."""

    __tablename__ = "replicas"

    id: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH), primary_key=True)
    address: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH))
    started_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())
    heartbeat_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class LeaseRow(Base):
    """Which replica works on one repository, until when.

    ``holder`` is ``""`` when nobody holds it (released, or never taken);
    ``previous_holder`` is who held it before the last change of hands and ``epoch``
    counts those changes (a fencing number).
    """

    __tablename__ = "leases"
    __table_args__ = (sa.Index(None, "holder"),)

    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH), primary_key=True)
    holder: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH))
    previous_holder: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH))
    epoch: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    acquired_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())
    renewed_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())
    expires_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())


class RequestRow(Base):
    """Work asked of a repository's owner by any replica: fetch (a push webhook), a merge-request
    event (its forge delivery id in ``dedup``, once per repository), or an action."""

    __tablename__ = "requests"
    __table_args__ = (
        sa.CheckConstraint(_allowed("action", records.REQUEST_ACTIONS), name="action"),
        sa.CheckConstraint(_allowed("status", records.REQUEST_STATUSES), name="status"),
        sa.Index(None, "status", "repository"),
        # A forge's delivery, recorded once per repository whichever replica it reached.
        sa.UniqueConstraint("repository", "dedup"),
        {"sqlite_autoincrement": True},
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    repository: orm.Mapped[str] = orm.mapped_column(sa.String(REPOSITORY_LENGTH))
    stack: orm.Mapped[str] = orm.mapped_column(sa.String(STACK_LENGTH))
    action: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    arguments: orm.Mapped[dict[str, Any]] = orm.mapped_column(sa.JSON)
    actor: orm.Mapped[str | None] = orm.mapped_column(sa.String(NAME_LENGTH), nullable=True)
    requested_by: orm.Mapped[str] = orm.mapped_column(sa.String(NAME_LENGTH))
    requested_at: orm.Mapped[datetime] = orm.mapped_column(UTCDateTime())
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    taken_by: orm.Mapped[str | None] = orm.mapped_column(sa.String(NAME_LENGTH), nullable=True)
    taken_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime(), nullable=True)
    finished_at: orm.Mapped[datetime | None] = orm.mapped_column(UTCDateTime(), nullable=True)
    outcome: orm.Mapped[dict[str, Any]] = orm.mapped_column(sa.JSON)
    #: The event's delivery id at its forge (``<forge>:<id>``); None: not de-duplicated.
    dedup: orm.Mapped[str | None] = orm.mapped_column(sa.String(NAME_LENGTH), nullable=True)
