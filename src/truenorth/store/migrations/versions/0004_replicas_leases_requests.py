"""Scale-out: replicas, repository leases and requests routed to a repository's owner.

Revision ID: 0004
Revises: 0003

Several controllers may share one PostgreSQL store (issue 14). ``replicas`` lists the
running ones with a heartbeat; ``leases`` says which replica works on which repository
until when (times from the database server's clock); ``requests`` carries what any
replica asks of a repository's owner (a webhook's fetch, refresh, sync, approve,
rollback). The tables exist on SQLite too (one controller, which owns everything), so
that a store is the same schema on both backends and can be copied from one to the
other. Downgrading drops the three tables: replicas register again, leases are taken
again, and pending requests are lost (their callers see them time out).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_ACTIONS = "action IN ('fetch', 'refresh', 'sync', 'approve', 'rollback')"
_STATUSES = "status IN ('pending', 'taken', 'done', 'failed')"


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replicas"),
    )
    op.create_table(
        "leases",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("previous_holder", sa.String(255), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repository", name="pk_leases"),
    )
    op.create_index("ix_leases_holder", "leases", ["holder"])
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("stack", sa.String(63), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("taken_by", sa.String(255), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
        sa.CheckConstraint(_ACTIONS, name="ck_requests_action"),
        sa.CheckConstraint(_STATUSES, name="ck_requests_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_requests_status_repository", "requests", ["status", "repository"])


def downgrade() -> None:
    op.drop_index("ix_requests_status_repository", table_name="requests")
    op.drop_table("requests")
    op.drop_index("ix_leases_holder", table_name="leases")
    op.drop_table("leases")
    op.drop_table("replicas")
