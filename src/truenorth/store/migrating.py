"""Bringing the database schema up to date when the store opens, with alembic in code.

There is no ``alembic.ini``: the configuration is built here and points at the
``migrations`` folder inside the package. The upgrade runs on a connection the store
opened in a write transaction; on PostgreSQL a transaction-scoped advisory lock makes
concurrent controllers starting at once migrate one after the other, on SQLite the
``BEGIN IMMEDIATE`` write lock does the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "MIGRATIONS", "MigrationError", "current_revision", "head_revision", "upgrade"]

#: The newest revision in ``migrations/versions`` (a test checks it against alembic).
#: Knowing it here lets an up-to-date database open without importing alembic, which
#: costs about a third of a second on every CLI command.
HEAD = "0008"


class MigrationError(RuntimeError):
    """The database holds a schema revision this truenorth does not know."""


#: The alembic script folder inside the package.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK_KEY = 7_363_201_554


def _config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    # configparser interpolation: a literal % in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this truenorth knows, as alembic computes it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The schema revision of the database behind ``connection`` (None if empty)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> None:
    """Upgrade to the newest revision inside the caller's open transaction."""
    if _stamped(connection) == HEAD:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    from alembic import command
    from alembic.util import exc as alembic_exc

    try:
        command.upgrade(_config(connection), "head")
    except alembic_exc.CommandError as exc:
        raise MigrationError(str(exc)) from None


def _stamped(connection: sa.Connection) -> str | None:
    """The revision in ``alembic_version`` without alembic, or None when not stamped."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None
