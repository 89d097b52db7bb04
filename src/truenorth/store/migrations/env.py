"""Alembic environment: run the migrations on the connection the store supplies.

:func:`truenorth.store.migrating.upgrade` puts an open connection, already inside a
transaction, in ``config.attributes["connection"]``; alembic then runs in that
transaction, so a migration either completes with its version stamp or not at all.
Offline (SQL script) mode is not offered.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

__all__: list[str] = []


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection) or context.is_offline_mode():
        raise RuntimeError("truenorth's migrations run through Store.open(), which supplies the connection")
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


_run()
