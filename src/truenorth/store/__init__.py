"""The store adapter: the one record of what happened (runs, run logs, stack state).

SQLite by default, PostgreSQL when given a ``postgresql://`` URL; the schema is migrated
by alembic when a store opens. Below ``truenorth.core``: plain JSON-compatible values in,
frozen records out. Modules import modules (``from truenorth.store import database``);
the names below are re-exported for convenience.
"""

from truenorth.store.database import Store
from truenorth.store.errors import StoreError
from truenorth.store.records import RunRecord, StackRecord
from truenorth.store.urls import database_url, redact_url, sqlite_url

__all__ = ["RunRecord", "StackRecord", "Store", "StoreError", "database_url", "redact_url", "sqlite_url"]
