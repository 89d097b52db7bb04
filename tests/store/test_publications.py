"""Publications: what a repository's owner knows, for the replicas that do not own it, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from tests.store.conftest import Clock
from truenorth.core import specs
from truenorth.store import Store, copying, database_url, migrating, publications

REPO = "git.example.test/org/shop#main"
OTHER = "git.example.test/org/shop#dev"
SPEC = "stacks:\n  - name: web\n    engine: terraform\n    path: web\n"
SHA = "a" * 40
NEWER = "b" * 40
FETCHED = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
COMMIT = {"sha": SHA, "author": "Alice", "date": "2030-01-01T11:00:00+00:00", "subject": "web v1"}


def view(**changes: Any) -> dict[str, Any]:
    """The arguments of one publication by replica ``a``."""
    return {
        "repository": REPO,
        "holder": "a",
        "valid_revision": SHA,
        "desired_revision": NEWER,
        "spec_text": SPEC,
        "source_error": None,
        "revision_error": "revision bbbbbbbbbbbb is invalid and was not applied: stacks: missing",
        "last_fetch_at": FETCHED,
        "last_check_at": FETCHED,
        "drifted": ["web"],
        "commits": {SHA: COMMIT},
        **changes,
    }


def test_only_the_lease_holder_publishes_and_every_field_reads_back(store: Store, clock: Clock) -> None:
    assert store.publish(**view()) is False, "nobody holds the lease: nothing is written"
    assert store.publications(repositories=[REPO]) == {}
    store.take_lease(REPO, replica="a", seconds=30)
    assert store.publish(**view()) is True
    assert store.publish(**view(holder="b")) is False, "a replica not holding the lease never overwrites"
    found = store.publications(repositories=[REPO, OTHER])
    assert list(found) == [REPO]
    record = found[REPO]
    assert (record.holder, record.valid_revision, record.desired_revision) == ("a", SHA, NEWER)
    assert record.spec_text == SPEC and specs.parse_spec(record.spec_text).names == ("web",)
    assert (record.source_error, record.revision_error) == (None, view()["revision_error"])
    assert (record.last_fetch_at, record.last_check_at, record.updated_at) == (FETCHED, FETCHED, clock.now)
    assert (record.drifted, record.commits) == (("web",), {SHA: COMMIT})
    assert SPEC not in repr(record)

    # The next owner replaces the row whole.
    store.release_leases(replica="a")
    store.take_lease(REPO, replica="b", seconds=30)
    clock.advance(5)
    assert store.publish(**view(holder="b", spec_text=None, valid_revision=None, drifted=[], commits={}))
    record = store.publications(repositories=[REPO])[REPO]
    assert (record.holder, record.valid_revision, record.spec_text, record.drifted, record.commits) == (
        "b", None, None, (), {},
    )  # fmt: skip
    assert record.updated_at == clock.now


def test_a_spec_the_reader_knows_is_not_read_again(store: Store) -> None:
    store.take_lease(REPO, replica="a", seconds=30)
    store.take_lease(OTHER, replica="a", seconds=30)
    store.publish(**view())
    store.publish(**view(repository=OTHER, valid_revision=NEWER, spec_text=SPEC + "# dev\n"))
    found = store.publications(repositories=[REPO, OTHER], known_specs=[SHA])
    assert found[REPO].spec_text is None and found[REPO].valid_revision == SHA
    assert found[OTHER].spec_text == SPEC + "# dev\n"
    assert store.publications(repositories=[]) == {}


def test_bad_input_is_refused_clearly_and_errors_are_bounded(store: Store) -> None:
    store.take_lease(REPO, replica="a", seconds=30)
    largest = "#" * (publications.MAX_SPEC_BYTES - 1) + "\n"
    assert store.publish(**view(spec_text=largest))
    with pytest.raises(ValueError, match=r"is 1048577 bytes: a truenorth.yaml holds at most 1048576"):
        store.publish(**view(spec_text=largest + "x"))
    with pytest.raises(ValueError, match="a commit SHA"):
        store.publish(**view(commits={"x" * 65: COMMIT}))
    with pytest.raises(ValueError, match="stack name"):
        store.publish(**view(drifted=["x" * 64]))
    with pytest.raises(ValueError, match="list of names"):
        store.publish(**view(drifted="web"))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.publish(**view(last_check_at=datetime(2030, 1, 1)))
    huge = "git failed: " + "e" * (2 * publications.MAX_ERROR) + "\x00"
    assert store.publish(**view(source_error=huge))
    record = store.publications(repositories=[REPO])[REPO]
    assert record.source_error is not None
    assert record.source_error.startswith("git failed: eee") and record.source_error.endswith("more bytes)")
    assert len(record.source_error) < publications.MAX_ERROR + 100


def test_the_limit_is_the_spec_parsers_own() -> None:
    assert publications.MAX_SPEC_BYTES == specs.MAX_SPEC_BYTES


def test_the_migration_down_drops_the_table_and_up_makes_it_again(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.take_lease(REPO, replica="a", seconds=30)
        store.publish(**view())
    engine = sa.create_engine(database_url(store_url))
    try:
        with engine.begin() as conn:
            command.downgrade(migrating._config(conn), "0006")
        with engine.connect() as conn:
            assert "publications" not in sa.inspect(conn).get_table_names()
            assert migrating.current_revision(conn) == "0006"
    finally:
        engine.dispose()
    with Store.open(store_url) as store:
        assert store.publications(repositories=[REPO]) == {}
        assert store.publish(**view())


def test_publications_describe_running_controllers_and_are_not_copied() -> None:
    assert "publications" not in copying.COPIED_TABLES


def test_a_stack_page_says_whether_a_run_of_the_stack_is_in_flight(store: Store) -> None:
    # What a replica that does not own the repository shows as busy: a run's stack record
    # names it only once it ends, so the page asks for a run in flight whatever its kind.
    done = store.record_run(stack="web", repository=REPO, revision=SHA, kind="plan", status="succeeded")
    store.upsert_stack(repository=REPO, name="web", engine="terraform", last_run_id=done)
    store.upsert_stack(repository=REPO, name="db", engine="terraform", last_run_id=done)
    (web, db) = store.stack_page(stacks=[(REPO, "web"), (REPO, "db")])
    assert not web.active and not db.active
    planning = store.start_run(stack="web", repository=REPO, revision=NEWER, kind="plan")
    store.start_run(stack="web", repository=OTHER, revision=NEWER, kind="apply")  # another branch's
    (web, db) = store.stack_page(stacks=[(REPO, "web"), (REPO, "db")])
    assert web.active and web.last_run is not None and web.last_run.id == done
    assert not db.active
    store.finish_run(planning, status="succeeded")
    (web,) = store.stack_page(stacks=[(REPO, "web")])
    assert not web.active
