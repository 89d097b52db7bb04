"""Clear errors without secrets: URLs, unreachable servers, driver failures in plain words."""

from __future__ import annotations

import logging
import re
import sqlite3
import traceback
from pathlib import Path

import pytest

from truenorth.store import Store, StoreError, database_url, errors, redact_url, urls

PASSWORD = "Sup3r-S3cret-pw"


def _everything_said(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), "".join(traceback.format_exception(error))])


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://truenorth:{PASSWORD}@/truenorth?host={{missing}}",
        f"postgres://truenorth@/truenorth?host={{missing}}&password={PASSWORD}",
        f"postgresql://truenorth:{PASSWORD}@127.0.0.1:1/truenorth",
    ],
    ids=["socket-userinfo", "socket-query", "tcp-refused"],
)
def test_a_password_never_appears_in_a_connection_error(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = url.format(missing=tmp_path / "no-such-socket-dir")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    said = _everything_said(caught.value)
    assert PASSWORD not in said
    assert PASSWORD not in caplog.text
    assert str(caught.value).startswith(
        "cannot open the state database and bring its schema up to date: cannot connect to the database server ("
    )
    assert "truenorth:***@" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_database_url_maps_postgres_to_psycopg_and_keeps_sqlite() -> None:
    assert database_url("postgresql://u@db.example.test/tn").drivername == "postgresql+psycopg"
    assert database_url("postgres://u@db.example.test/tn").drivername == "postgresql+psycopg"
    assert database_url("postgresql+psycopg://u@db.example.test/tn").drivername == "postgresql+psycopg"
    moved = database_url(f"postgresql://u@/tn?host=/run/pg&password={PASSWORD}")
    assert moved.password == PASSWORD and "password" not in moved.query
    assert PASSWORD not in str(moved) and PASSWORD not in repr(moved)
    lite = database_url("sqlite:////var/lib/truenorth/truenorth.db")
    assert (lite.drivername, lite.database) == ("sqlite", "/var/lib/truenorth/truenorth.db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"mysql://root:{PASSWORD}@db/tn", "unsupported database URL mysql://root:***@db/tn"),
        ("sqlite://", "an in-memory SQLite database keeps no record"),
        ("sqlite:///:memory:", "an in-memory SQLite database keeps no record"),
        (f"::not a url {PASSWORD}", "cannot parse the database URL <unparsable database URL>"),
    ],
)
def test_unusable_urls_are_refused_without_the_password(url: str, message: str) -> None:
    with pytest.raises(StoreError, match="^" + re.escape(message)) as caught:
        Store.open(url)
    assert PASSWORD not in _everything_said(caught.value)


def test_redact_url_masks_every_credential() -> None:
    assert redact_url(f"postgresql://u:{PASSWORD}@db:5432/tn?sslmode=require&password={PASSWORD}") == (
        "postgresql://u:***@db:5432/tn?password=***&sslmode=require"
    )
    assert redact_url("postgresql://u@db/tn") == "postgresql://u@db/tn"
    assert urls.url_secrets(f"postgresql://u:{PASSWORD}@db/tn?sslpassword=other") == (PASSWORD, "other")


def test_scrub_masks_known_secrets_urls_and_password_settings() -> None:
    text = f"failed {PASSWORD} at postgresql://u:x@h/db with password='abc def' and sslpassword=zz"
    assert errors.scrub(text, [PASSWORD]) == (
        "failed *** at postgresql://u:***@h/db with password=*** and sslpassword=***"
    )


def test_describe_names_real_sqlite_failures(tmp_path: Path) -> None:
    full = sqlite3.connect(tmp_path / "full.db")
    full.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as disk:
        full.execute("CREATE TABLE t (x TEXT)")
        full.execute("INSERT INTO t VALUES (?)", ("x" * 100_000,))
    full.close()
    assert errors.describe(disk.value) == "disk full (database or disk is full)"

    first = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN EXCLUSIVE")
    second = sqlite3.connect(tmp_path / "busy.db", timeout=0)
    with pytest.raises(sqlite3.OperationalError) as locked:
        second.execute("INSERT INTO t VALUES (1)")
    first.execute("ROLLBACK")
    first.close()
    second.close()
    assert errors.describe(locked.value) == "database is locked"
