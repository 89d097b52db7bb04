"""API reads through a replica that does not own the repository show what the owner knows.

Two in-process controllers on one PostgreSQL store (the fixtures of test_sharing.py):
the owner has loaded the repository's revision, the other has not, and answers from what
the owner published (``store/publications.py``). Whatever the owner knows and the other
could not (declared stacks and their options, ``depends_on``, dependents, the newest and
valid revisions and their commits, drift, busy, revision and source errors), both answer
alike; and an idle owner publishes nothing again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import STATE_FILE
from tests.controller.test_sharing import DEADLINE, owner_and_other, pair  # noqa: F401
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.controller.actions import views
from truenorth.controller.loop import reconciling
from truenorth.store import records

pytestmark = [pytest.mark.postgres]

NAMES = ("network", "app", "manual")
#: The default drift interval.
DRIFT_INTERVAL = 600


def answers(harness: Harness, *, check_time: bool = True) -> dict[str, Any]:
    """Everything the API reads of the repository through ``harness``'s controller."""
    ctl = harness.ctl
    assert ctl is not None
    repositories = ctl.repositories()
    if not check_time:
        repositories = [dataclasses.replace(found, last_check_at=None) for found in repositories]
    return {
        "repositories": repositories,
        "page": ctl.stack_page(views.StackQuery()),
        "by state": ctl.stack_page(views.StackQuery(sort="state", limit=2)),
        "stacks": ctl.stacks(),
        "detail": [ctl.stack(name) for name in NAMES],
        "counts": dict(ctl.state_counts()),
    }


def statements(harness: Harness, read: Callable[[], object]) -> list[str]:
    """The SQL statements ``read`` makes on ``harness``'s store (this thread's: the sharing
    ticks run in other threads), transaction control left out."""
    assert harness.ctl is not None
    seen: list[str] = []
    me = threading.get_ident()

    def count(*args: object) -> None:
        if threading.get_ident() == me and not str(args[2]).upper().startswith(
            ("BEGIN", "COMMIT", "ROLLBACK")
        ):
            seen.append(str(args[2]))

    engine = harness.ctl.store._engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        read()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen


def publication(harness: Harness) -> records.PublicationRecord:
    assert harness.ctl is not None
    key = harness.ctl.sharing._repos["infra"].key
    return harness.ctl.store.publications(repositories=[key])[key]


async def test_the_replica_that_does_not_own_the_repository_answers_what_the_owner_knows(
    pair: tuple[Harness, Harness],  # noqa: F811
    repo: GitRepo,
) -> None:
    for harness in pair:
        await harness.start()
    owner, other = await owner_and_other(pair)
    assert owner.ctl is not None and other.ctl is not None
    assert not other.ctl.sharing.owns("infra")

    # Declared stacks, their options and order, dependents, revisions and commits.
    assert answers(other) == answers(owner)
    app = other.ctl.stack("app")
    assert (app.depends_on, app.auto_apply, app.desired_revision) == (("network",), True, repo.head())
    assert app.desired_commit is not None and app.desired_commit.subject == "three stacks"
    assert other.ctl.stack("network").dependents == ("app",)
    assert other.ctl.repositories()[0].valid_revision == repo.head()
    # A replica that just took the repository over (a fresh state, as after a restart)
    # answers as published until its first pass has checked it.
    state = owner.ctl.sharing._repos["infra"]
    loaded = state.revision, state.spec
    state.checked, state.revision, state.spec = False, None, None
    try:
        assert answers(owner) == answers(other)
    finally:
        state.checked, (state.revision, state.spec) = True, loaded

    # A page costs the owner one query, the other one more: the published views (the spec
    # text, parsed already, not read again).
    page = views.StackQuery()
    assert len(statements(owner, lambda: owner.ctl and owner.ctl.stack_page(page))) == 1
    read = statements(other, lambda: other.ctl and other.ctl.stack_page(page))
    assert len(read) == 2 and "publications" in read[0] and "CASE WHEN" in read[0].upper()
    assert statements(owner, owner.ctl.repositories) == []
    assert len(statements(other, other.ctl.repositories)) == 1

    # Busy: the owner applies (held), asked through the other replica.
    applying = owner.engine.hold("manual")
    run_id = await other.ctl.approve("manual", actor="alice")
    assert await asyncio.to_thread(applying.wait, DEADLINE)
    assert owner.view("manual").busy and other.ctl.stack("manual").busy
    assert other.ctl.stack("manual") == owner.view("manual")
    owner.engine.release("manual")
    await owner.until(lambda: owner.ctl is not None and owner.ctl.store.run_status(run_id) == "succeeded")
    await owner.settle()
    assert answers(other) == answers(owner)
    assert not other.ctl.stack("manual").busy

    # Drift found by the owner's check.
    (owner.state("network") / STATE_FILE).write_text(json.dumps({"digest": "edited outside truenorth"}))
    await owner.advance(DRIFT_INTERVAL)
    assert owner.view("network").drift
    assert answers(other) == answers(owner)

    # An invalid revision: the newest one is not the valid one, and says why.
    valid = repo.head()
    invalid = repo.commit("broken spec", {"truenorth.yaml": "stacks: nope\n"})
    await owner.advance(POLL)
    assert answers(other) == answers(owner)
    seen = other.ctl.repositories()[0]
    assert (seen.revision, seen.valid_revision) == (invalid, valid)
    assert seen.source_error is not None and "is invalid" in seen.source_error
    assert other.ctl.stack("app").desired_revision == invalid and other.ctl.stack("app").depends_on == (
        "network",
    )

    # Idle: the owner checks its branch every poll and publishes nothing again (the check
    # time alone waits for CHECK_REPUBLISH seconds).
    before = publication(owner)
    assert owner.cache is not None
    checks = owner.cache.ls_remotes
    for _ in range(3):
        await owner.advance(POLL)
    assert owner.cache.ls_remotes >= checks + 3
    assert publication(owner) == before
    assert answers(other, check_time=False) == answers(owner, check_time=False)
    published_check = other.ctl.repositories()[0].last_check_at
    owned_check = owner.ctl.repositories()[0].last_check_at
    assert published_check is not None and owned_check is not None
    assert 0 < (owned_check - published_check).total_seconds() < reconciling.CHECK_REPUBLISH

    # The source breaks: the error shows through either replica, the valid revision stays.
    repo.path.rename(repo.path.with_name("moved"))
    await owner.advance(POLL)
    assert answers(other) == answers(owner)
    page = other.ctl.stack_page(views.StackQuery())
    assert [found.repository for found in page.source_errors] == ["infra"]
    error = page.source_errors[0].error
    assert error == owner.ctl.repositories()[0].source_error and "is invalid" not in error
    assert other.ctl.repositories()[0].valid_revision == valid
