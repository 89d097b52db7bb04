"""Bringing the database schema up to date when the store opens, with alembic in code.

There is no ``alembic.ini``: the configuration is built here and points at the
``migrations`` folder inside the package. The upgrade runs on a connection the store
opened in a write transaction; on PostgreSQL a transaction-scoped advisory lock makes
concurrent controllers starting at once migrate one after the other, on SQLite the
``BEGIN IMMEDIATE`` write lock does the same.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["MIGRATIONS", "current_revision", "head_revision", "upgrade"]

#: The alembic script folder inside the package.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK_KEY = 7_363_201_554


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    # configparser interpolation: a literal % in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this truenorth knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The schema revision of the database behind ``connection`` (None if empty)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> None:
    """Upgrade to the newest revision inside the caller's open transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    command.upgrade(_config(connection), "head")
