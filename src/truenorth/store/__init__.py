"""The store adapter: the one record of what happened (runs, run logs, stack state).

SQLite by default, PostgreSQL when given a ``postgresql://`` URL; the schema is migrated
by alembic when a store opens. Below ``truenorth.core``: plain JSON-compatible values in,
frozen records out. Modules import modules (``from truenorth.store import database``);
the names below are re-exported for convenience.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from truenorth.store.errors import StoreError

if TYPE_CHECKING:
    from truenorth.store.database import Store
    from truenorth.store.records import RunRecord, StackRecord
    from truenorth.store.urls import database_url, redact_url, sqlite_url

__all__ = ["RunRecord", "StackRecord", "Store", "StoreError", "database_url", "redact_url", "sqlite_url"]

#: Re-exports imported on first use (PEP 562): ``from truenorth.store import errors``
#: (the controller's error mapping, the CLI) must not load SQLAlchemy (issue 16).
_LAZY = {
    "Store": "truenorth.store.database",
    "RunRecord": "truenorth.store.records",
    "StackRecord": "truenorth.store.records",
    "database_url": "truenorth.store.urls",
    "redact_url": "truenorth.store.urls",
    "sqlite_url": "truenorth.store.urls",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
