"""Stack files: the engine state files replicas share (the Kubernetes inventory first).

Revision ID: 0006
Revises: 0005

An engine keeps some of what it needs in the stack's state dir (the Kubernetes
inventory, which drives pruning). With several replicas on one PostgreSQL store, the
replica that works on a stack next may not be the one that wrote them, so the controller
keeps a copy of each file an engine names as shared state here, one row per file of one
stack of one repository, and writes it into the state dir before each operation
(``controller/runs/carrying.py``). ``content`` is the file's bytes (at most 4 MiB,
checked by the store), ``digest`` its SHA-256. The table exists on SQLite too (one
controller, which never fills it), so that a store is the same schema on both backends.
Downgrading drops the table: each stack's state dir still holds its own files, and the
next operation after upgrading again puts them back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "stack_files",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("stack", sa.String(63), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repository", "stack", "name", name="pk_stack_files"),
    )


def downgrade() -> None:
    op.drop_table("stack_files")
