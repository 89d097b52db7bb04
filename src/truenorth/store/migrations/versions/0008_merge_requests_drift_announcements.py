"""Merge requests and drift announcements: what an owner knew only in memory.

Revision ID: 0008
Revises: 0007

A restart, or a repository moving to another replica, forgot the open merge requests
(a ``/truenorth plan`` comment then found none, and a merge awaiting its report was
never reported) and which drifts had been announced (each still drifted stack was
announced again). ``merge_requests`` keeps, per repository and number, what the owner
needs of each open merge request, or of a merged one until its report is written
(``store/merge_requests.py``); ``drift_announcements`` one row per stack whose drift was
announced and not yet resolved (``store/announcements.py``). Both are the users' state:
``truenorth store migrate`` copies them. Downgrading drops both tables: merge requests
are learnt again at their next push, drifts still there announced once more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "merge_requests",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("forge", sa.String(16), nullable=False),
        sa.Column("project", sa.String(1024), nullable=False),
        sa.Column("head_repo", sa.String(1024), nullable=False),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("head_ref", sa.String(1024), nullable=False),
        sa.Column("target_branch", sa.String(1024), nullable=False),
        sa.Column("author", sa.String(1024), nullable=False),
        sa.Column("author_association", sa.String(1024), nullable=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("url", sa.String(256), nullable=False),
        sa.Column("merge_sha", sa.String(64), nullable=True),
        sa.Column("comment_id", sa.BigInteger(), nullable=True),
        sa.Column("last_order", sa.BigInteger(), nullable=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('open', 'merged')", name="ck_merge_requests_state"),
        sa.PrimaryKeyConstraint("repository", "number", name="pk_merge_requests"),
    )
    op.create_table(
        "drift_announcements",
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("stack", sa.String(63), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repository", "stack", name="pk_drift_announcements"),
    )


def downgrade() -> None:
    op.drop_table("drift_announcements")
    op.drop_table("merge_requests")
