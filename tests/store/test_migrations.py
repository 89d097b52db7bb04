"""The schema is created by the alembic migration and matches the declared tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from truenorth.store import Store, StoreError, database_url, migrating, schema


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(database_url(url))


def test_open_creates_every_table_at_the_head_revision(store_url: str) -> None:
    Store.open(store_url).close()
    engine = _engine(store_url)
    try:
        inspector = sa.inspect(engine)
        assert {"runs", "run_logs", "stacks", "alembic_version"} <= set(inspector.get_table_names())
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("runs")}
        assert indexes["ix_runs_stack_started_at"] == ["stack", "started_at"]
        assert indexes["ix_runs_repository_stack_kind_status"] == ["repository", "stack", "kind", "status"]
        assert {fk["referred_table"] for fk in inspector.get_foreign_keys("run_logs")} == {"runs"}
        with engine.connect() as conn:
            assert migrating.current_revision(conn) == migrating.head_revision() == migrating.HEAD
    finally:
        engine.dispose()


def test_migration_matches_the_declared_schema(store_url: str) -> None:
    Store.open(store_url).close()
    engine = _engine(store_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), schema.Base.metadata
            )
        assert differences == []
    finally:
        engine.dispose()


def test_opening_again_keeps_the_data(store_url: str) -> None:
    with Store.open(store_url) as first:
        run_id = first.start_run(stack="web", repository="r", revision="a" * 40, kind="plan")
    with Store.open(store_url) as second:
        record = second.get_run(run_id)
    assert record is not None and record.stack == "web"


def test_a_database_from_a_newer_version_is_refused_clearly(store_url: str) -> None:
    Store.open(store_url).close()
    engine = _engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="schema revision is unknown to this truenorth") as caught:
        Store.open(store_url)
    assert "f00dcafe" in str(caught.value)


def test_head_constant_matches_the_migration_scripts() -> None:
    """The fast path (no alembic import when up to date) relies on HEAD being the real head."""
    assert migrating.head_revision() == migrating.HEAD
