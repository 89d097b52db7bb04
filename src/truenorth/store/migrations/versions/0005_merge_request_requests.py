"""Merge-request events routed to a repository's owner, each delivery once.

Revision ID: 0005
Revises: 0004

A forge's merge-request webhook may reach any replica; the owner of the repository is
the one that previews (one fetch per repository, one comment). The event travels in a
``requests`` row of the new action ``merge-request``, and the forge's delivery id
becomes the row's ``dedup`` key: ``(repository, dedup)`` is unique, so a delivery
redelivered to another replica (or twice to one) is recorded once and previewed once,
whichever replica it reaches. Rows without a key (a forge that sends no delivery id)
are never refused as duplicates (NULLs are distinct on both backends).

SQLite cannot alter a CHECK constraint in place: the table is copied (alembic's batch
mode). Downgrading deletes the merge-request rows (an older truenorth cannot read them)
and drops the key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_OLD_ACTIONS = "action IN ('fetch', 'refresh', 'sync', 'approve', 'rollback')"
_NEW_ACTIONS = "action IN ('fetch', 'refresh', 'sync', 'approve', 'rollback', 'merge-request')"
_STATUSES = "status IN ('pending', 'taken', 'done', 'failed')"


def _requests(actions: str, *, dedup: bool) -> sa.Table:
    """``requests`` as it stands (what batch mode copies on SQLite): ``actions``, the key or not."""
    keyed = (
        (
            sa.Column("dedup", sa.String(255), nullable=True),
            sa.UniqueConstraint("repository", "dedup", name="uq_requests_repository_dedup"),
        )
        if dedup
        else ()
    )
    return sa.Table(
        "requests",
        sa.MetaData(),
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
        sa.CheckConstraint(actions, name="ck_requests_action"),
        sa.CheckConstraint(_STATUSES, name="ck_requests_status"),
        sa.Index("ix_requests_status_repository", "status", "repository"),
        *keyed,
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("requests", copy_from=_requests(_OLD_ACTIONS, dedup=False)) as batch:
        batch.drop_constraint("ck_requests_action", type_="check")
        batch.create_check_constraint("ck_requests_action", sa.text(_NEW_ACTIONS))
        batch.add_column(sa.Column("dedup", sa.String(255), nullable=True))
        batch.create_unique_constraint("uq_requests_repository_dedup", ["repository", "dedup"])


def downgrade() -> None:
    op.execute("DELETE FROM requests WHERE action = 'merge-request'")
    with op.batch_alter_table("requests", copy_from=_requests(_NEW_ACTIONS, dedup=True)) as batch:
        batch.drop_constraint("uq_requests_repository_dedup", type_="unique")
        batch.drop_column("dedup")
        batch.drop_constraint("ck_requests_action", type_="check")
        batch.create_check_constraint("ck_requests_action", sa.text(_OLD_ACTIONS))
