"""Where the state database lives, and how its address is shown.

truenorth records everything in SQLite by default (``<data dir>/truenorth.db``) or in a
PostgreSQL server given as a ``postgresql://`` URL. :func:`database_url` turns what an
operator writes into the URL SQLAlchemy needs (PostgreSQL always through psycopg 3);
:func:`redact_url` renders a URL for messages and logs with every credential masked;
:func:`url_secrets` lists the secret parts so that error messages can be scrubbed.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from truenorth.store import errors

__all__ = ["SQLITE_FILENAME", "database_url", "redact_url", "sqlite_url", "url_secrets"]

#: The SQLite file inside the data directory.
SQLITE_FILENAME = "truenorth.db"

_REDACTED = "***"
_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}
# Query parameters that carry secrets (libpq accepts them in a URL's query).
_SECRET_PARAMETERS = {"password", "sslpassword"}


def sqlite_url(data_dir: Path) -> str:
    """The URL of the SQLite database in ``data_dir`` (made absolute)."""
    path = Path(data_dir).expanduser().absolute() / SQLITE_FILENAME
    return sa.URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def database_url(url: str) -> sa.URL:
    """Parse ``url`` for SQLAlchemy: ``postgresql://`` goes to psycopg 3, SQLite stays.

    Raises :class:`~truenorth.store.errors.StoreError` (with the URL redacted) for an
    unparsable URL, an in-memory SQLite database or any other kind of database.
    """
    try:
        parsed = sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        raise errors.StoreError(
            f"cannot parse the database URL {redact_url(url)!s}: expected sqlite:///PATH or postgresql://..."
        ) from None
    scheme = parsed.drivername
    if scheme in _POSTGRES_SCHEMES:
        query = dict(parsed.query)
        password = query.pop("password", None)
        if isinstance(password, str) and not parsed.password:
            # Keep the password where SQLAlchemy hides it whenever the URL is rendered.
            parsed = parsed.set(password=password, query=query)
        return parsed.set(drivername="postgresql+psycopg")
    if scheme in _SQLITE_SCHEMES:
        if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
            raise errors.StoreError(
                "an in-memory SQLite database keeps no record: give a file, e.g. sqlite:////var/lib/truenorth/truenorth.db"
            )
        return parsed.set(drivername="sqlite")
    raise errors.StoreError(
        f"unsupported database URL {redact_url(url)}: truenorth stores its state in SQLite (sqlite:///PATH) "
        "or PostgreSQL (postgresql://USER@HOST/DB)"
    )


def redact_url(url: str | sa.URL) -> str:
    """``url`` for display: password and secret query parameters masked with ``***``."""
    try:
        parsed = url if isinstance(url, sa.URL) else sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return "<unparsable database URL>"
    query = {
        key: (_REDACTED if key.lower() in _SECRET_PARAMETERS else value)
        for key, value in parsed.query.items()
    }
    rendered = parsed.set(query=query).render_as_string(hide_password=True)
    return rendered.replace("%2A%2A%2A", _REDACTED)


def url_secrets(url: str | sa.URL) -> tuple[str, ...]:
    """The secret values in ``url`` (password, ``password=`` parameters), to scrub from text."""
    try:
        parsed = url if isinstance(url, sa.URL) else sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return ()
    found: list[str] = []
    if parsed.password:
        found.append(str(parsed.password))
    for key, value in parsed.query.items():
        if key.lower() in _SECRET_PARAMETERS:
            found.extend([value] if isinstance(value, str) else list(value))
    return tuple(found)
