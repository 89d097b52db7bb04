"""Migration 0002: records kept under a URL as written move to ``<normalized URL>#main``.

The keys the migration writes must be the keys today's controller and CLI read
(``urls.repository_key(url, "main")``), or an upgrade would detach every stack from
its history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.legacy import OldStore
from truenorth.git import urls
from truenorth.store import Store

SHA_A = "a" * 40
SHA_B = "b" * 40
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "written",
    [
        "https://git.example.com/org/infra.git",
        "https://***@Git.Example.COM:443/Org/Infra.git/",
        "ssh://git@git.example.com:2222/org/infra.git",
        "git@git.example.com:Team/Infra.git",
        "http://[::1]:8080/a%20b.git",
    ],
)
def test_old_keys_become_the_keys_of_the_main_branch(store_url: str, written: str) -> None:
    old = OldStore(store_url)
    try:
        run_id = old.add_run(repository=written, stack="web", revision=SHA_A)
        old.add_stack(repository=written, name="web", applied_revision=SHA_A, last_run_id=run_id)
    finally:
        old.close()
    with Store.open(store_url) as store:
        key = urls.repository_key(written.replace("***@", ""), "main")
        assert [r.id for r in store.list_runs(repository=key)] == [run_id]
        record = store.get_stack(repository=key, name="web")
        assert record is not None and record.applied_revision == SHA_A
        assert store.list_runs(repository=written) == []


def test_a_local_repository_keeps_its_path(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "My Repo"
    folder.mkdir()
    written = urls.to_url(str(folder))  # what the CLI and controller stored: file:///.../My%20Repo
    old = OldStore(store_url)
    try:
        old.add_run(repository=written, stack="web", revision=SHA_A)
    finally:
        old.close()
    with Store.open(store_url) as store:
        [run] = store.list_runs()
    assert run.repository == urls.repository_key(str(folder), "main") == f"{folder.resolve()}#main"


def test_two_spellings_of_one_repository_merge_keeping_the_newer_stack_state(store_url: str) -> None:
    old = OldStore(store_url)
    try:
        first = old.add_run(repository="https://h/org/infra.git", stack="web", revision=SHA_A, when=T0)
        second = old.add_run(repository="ssh://git@h/org/infra", stack="web", revision=SHA_B, when=T0)
        old.add_stack(
            repository="https://h/org/infra.git",
            name="web",
            applied_revision=SHA_A,
            last_run_id=first,
            when=T0,
        )
        old.add_stack(
            repository="ssh://git@h/org/infra",
            name="web",
            applied_revision=SHA_B,
            last_run_id=second,
            when=T0 + timedelta(minutes=1),
        )
        old.add_stack(
            repository="https://h/org/infra.git", name="db", applied_revision=SHA_A, last_run_id=first
        )
        # The path's case tells repositories apart: this one stays on its own.
        other = old.add_run(repository="https://h/Org/Infra.git", stack="web", revision=SHA_A)
    finally:
        old.close()
    with Store.open(store_url) as store:
        key = urls.repository_key("https://h/org/infra", "main")
        assert sorted(r.id for r in store.list_runs(repository=key)) == [first, second]
        assert [(s.name, s.applied_revision) for s in store.list_stacks(repository=key)] == [
            ("db", SHA_A),
            ("web", SHA_B),
        ]
        upper = urls.repository_key("https://h/Org/Infra", "main")
        assert [r.id for r in store.list_runs(repository=upper)] == [other]
