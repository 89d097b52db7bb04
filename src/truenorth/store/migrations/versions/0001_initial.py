"""Initial schema: run history, run logs and the controller's stack state.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_KINDS = "kind IN ('plan', 'apply', 'drift')"
_STATUSES = "status IN ('pending', 'running', 'succeeded', 'failed', 'partial', 'interrupted', 'cancelled', 'skipped')"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stack", sa.String(63), nullable=False),
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.CheckConstraint(_KINDS, name="ck_runs_kind"),
        sa.CheckConstraint(_STATUSES, name="ck_runs_status"),
        sa.ForeignKeyConstraint(["plan_id"], ["runs.id"], name="fk_runs_plan_id_runs", ondelete="SET NULL"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_stack_started_at", "runs", ["stack", "started_at"])
    op.create_index("ix_runs_repository_stack_kind_status", "runs", ["repository", "stack", "kind", "status"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_table(
        "run_logs",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_run_logs"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_logs_run_id_runs", ondelete="CASCADE"),
    )
    op.create_table(
        "stacks",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("sync_state", sa.String(32), nullable=False),
        sa.Column("health", sa.String(32), nullable=False),
        sa.Column("applied_revision", sa.String(64), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("pending_plan_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repository", "name", name="pk_stacks"),
        sa.ForeignKeyConstraint(
            ["last_run_id"], ["runs.id"], name="fk_stacks_last_run_id_runs", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pending_plan_id"], ["runs.id"], name="fk_stacks_pending_plan_id_runs", ondelete="SET NULL"
        ),
    )


def downgrade() -> None:
    op.drop_table("stacks")
    op.drop_table("run_logs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_index("ix_runs_repository_stack_kind_status", table_name="runs")
    op.drop_index("ix_runs_stack_started_at", table_name="runs")
    op.drop_table("runs")
