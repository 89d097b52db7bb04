"""Stack outputs: what each stack's last successful apply handed out, for its dependents.

Revision ID: 0003
Revises: 0002

One row per output of one stack of one repository. A sensitive output's value is never
kept in clear: ``value`` is NULL, ``sealed`` holds it encrypted under a key outside the
database (``truenorth.store.sealing``) and ``digest`` is keyed. Downgrading drops the
table: outputs are recorded again by each stack's next apply.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "stack_outputs",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("stack", sa.String(63), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repository", "stack", "name", name="pk_stack_outputs"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_stack_outputs_run_id_runs", ondelete="SET NULL"
        ),
    )


def downgrade() -> None:
    op.drop_table("stack_outputs")
