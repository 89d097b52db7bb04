"""Creating the database engine with the settings each backend needs to be a safe record.

SQLite: the parent directory is created, and the database file, private to the user
(0600; the ``-wal`` and ``-shm`` files SQLite makes beside it inherit that); every
connection gets WAL mode (readers never wait for a writer), ``foreign_keys=ON``, a
``busy_timeout`` so that a second writer waits instead of failing with "database is
locked", and ``synchronous=NORMAL`` (safe with WAL). SQLAlchemy takes over ``BEGIN`` from the sqlite3 module so that a write
transaction can start with ``BEGIN IMMEDIATE``: a transaction that reads and then writes
would otherwise fail at once on contention instead of waiting. PostgreSQL: psycopg 3,
connections checked before use (the server may have restarted) and a connect timeout;
connections that hold a session-level state (a lock, a LISTEN) come from an engine
that pools nothing.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

__all__ = ["BEGIN_OPTION", "create_engine", "create_session_engine", "ensure_parent"]

#: Execution option naming how a SQLite transaction begins: "deferred" or "immediate".
BEGIN_OPTION = "truenorth_begin"
_BEGIN = {"deferred": "BEGIN", "immediate": "BEGIN IMMEDIATE"}
_CONNECT_TIMEOUT_SECONDS = 10
_PRIVATE_FILE = 0o600
# The database, its write-ahead log, its shared-memory index and a rollback journal.
_SQLITE_FILES = ("", "-wal", "-shm", "-journal")


def ensure_parent(url: sa.URL) -> None:
    """Create the directory of a SQLite database file, and the file, private (OSError if that fails).

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's permissions,
    so a database file made 0600 here keeps all three private; files an older version
    left readable are made private too.
    """
    if url.get_backend_name() != "sqlite" or not url.database:
        return
    path = Path(url.database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Failures are left to SQLite, which reports them in the store's words (read-only...).
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, _PRIVATE_FILE))
    for suffix in _SQLITE_FILES:
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", _PRIVATE_FILE)


def create_engine(url: sa.URL, *, busy_timeout: float) -> sa.Engine:
    """An engine for ``url`` (already normalized by :func:`~truenorth.store.urls.database_url`)."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout=busy_timeout)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_SECONDS, "application_name": "truenorth"},
    )


def create_session_engine(url: sa.URL) -> sa.Engine:
    """A PostgreSQL engine that pools nothing: each connection is a session of its own,
    ended when closed (a stack's advisory lock, a LISTEN connection)."""
    return sa.create_engine(
        url,
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_SECONDS, "application_name": "truenorth"},
    )


def _sqlite_engine(url: sa.URL, *, busy_timeout: float) -> sa.Engine:
    busy_ms = max(0, int(busy_timeout * 1000))
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, emits BEGIN (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "deferred")
        connection.exec_driver_sql(_BEGIN[mode])

    return engine
