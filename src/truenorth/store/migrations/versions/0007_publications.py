"""Publications: what a repository's owner knows, for the replicas that do not own it.

Revision ID: 0007
Revises: 0006

With several replicas on one PostgreSQL store, only the replica holding a repository's
lease fetches it and loads its revision; the others answer API reads from the store. The
owner publishes here, one row per repository, what only its memory held: the newest
valid revision and its ``truenorth.yaml`` text (already validated, at most 1 MiB), the
newest revision seen, the source and revision errors (redacted where they are made,
bounded by the store), the last fetch and check times, the stacks whose last drift check
found drift, the details of the commits its views name, and who wrote it when
(``store/publications.py``). The table exists on SQLite too (one controller, which never
fills it), so that a store is the same schema on both backends. Like ``replicas``,
``leases`` and ``requests`` it describes running controllers: ``truenorth store
migrate`` does not copy it. Downgrading drops the table: the owners publish again on
their next pass after upgrading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("valid_revision", sa.String(64), nullable=True),
        sa.Column("desired_revision", sa.String(64), nullable=True),
        sa.Column("spec_text", sa.Text(), nullable=True),
        sa.Column("source_error", sa.Text(), nullable=True),
        sa.Column("revision_error", sa.Text(), nullable=True),
        sa.Column("last_fetch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drifted", sa.JSON(), nullable=False),
        sa.Column("commits", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repository", name="pk_publications"),
    )


def downgrade() -> None:
    op.drop_table("publications")
