"""The mirror cache against real repositories served over file://."""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth.git.errors import GitError
from truenorth.git.mirrors import MirrorCache


def test_fetch_clones_a_bare_mirror_once_per_repository(repo: GitRepo, cache: MirrorCache) -> None:
    path = cache.fetch(repo.url)
    assert path.parent == cache.root / "mirrors"
    assert (path / "HEAD").is_file() and not (path / ".git").exists()
    # Every spelling of the same repository shares the mirror.
    assert cache.fetch(str(repo.path)) == path
    assert cache.fetch(repo.url + "/") == path
    assert [p.name for p in (cache.root / "mirrors").iterdir() if p.is_dir()] == [path.name]


def test_second_fetch_sees_new_commits_pruned_branches_and_force_pushes(
    repo: GitRepo, cache: MirrorCache
) -> None:
    first = repo.head()
    repo.git("branch", "feature")
    cache.fetch(repo.url)
    assert cache.resolve(repo.url, "feature") == first

    second = repo.commit("second", {"new.txt": "x"})
    repo.git("branch", "-D", "feature")
    assert cache.resolve(repo.url, "main") == first  # nothing is fetched implicitly
    cache.fetch(repo.url)
    assert cache.resolve(repo.url, "main") == second
    with pytest.raises(GitError, match="unknown ref 'feature'"):
        cache.resolve(repo.url, "feature")

    repo.git("reset", "-q", "--hard", first)
    cache.fetch(repo.url)
    assert cache.resolve(repo.url, "main") == first


def test_local_reads_clone_the_mirror_on_first_use(repo: GitRepo, cache: MirrorCache) -> None:
    assert cache.resolve(repo.url, "main") == repo.head()
    assert cache.mirror_path(repo.url).is_dir()


def test_failed_clone_leaves_nothing_behind(tmp_path: Path, cache: MirrorCache) -> None:
    missing = (tmp_path / "gone").as_uri()
    with pytest.raises(GitError, match="git clone failed"):
        cache.fetch(missing)
    assert [p for p in (cache.root / "mirrors").iterdir() if p.is_dir()] == []


def test_fetch_waits_for_the_mirror_lock(repo: GitRepo, cache: MirrorCache) -> None:
    path = cache.fetch(repo.url)
    newer = repo.commit("newer")
    lock = path.with_name(path.name + ".lock")
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=cache.fetch, args=(repo.url,))
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), "fetch ran while another process held the mirror lock"
        assert cache.resolve(repo.url, "main") != newer
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert cache.resolve(repo.url, "main") == newer


def test_ls_remote_reads_the_remote_without_fetching(repo: GitRepo, cache: MirrorCache) -> None:
    first = repo.head()
    repo.git("tag", "-a", "v1", "-m", "release 1")
    repo.git("tag", "light")
    cache.fetch(repo.url)
    second = repo.commit("second")
    assert cache.ls_remote(repo.url, "main") == second
    assert cache.ls_remote(repo.url, "refs/heads/main") == second
    assert cache.ls_remote(repo.url, "v1") == first  # peeled to the commit
    assert cache.ls_remote(repo.url, "light") == first
    assert cache.ls_remote(repo.url, "missing") is None
    assert cache.ls_remote(repo.url, "a" * 40) == "a" * 40
    assert cache.resolve(repo.url, "main") == first  # the mirror was not touched
    with pytest.raises(GitError, match="starts with '-'"):
        cache.ls_remote(repo.url, "--upload-pack=touch x")


def test_default_branch(tmp_path: Path, cache: MirrorCache) -> None:
    trunk = GitRepo(tmp_path / "trunk", branch="trunk")
    trunk.commit("one")
    trunk.git("branch", "aaa-sorts-first")
    assert cache.default_branch(trunk.url) == "trunk"


def test_resolve_branches_tags_and_shas(repo: GitRepo, cache: MirrorCache) -> None:
    first = repo.head()
    repo.git("tag", "-a", "v1", "-m", "annotated")
    repo.git("tag", "light")
    second = repo.commit("second")
    repo.git("tag", "main-tag")
    # A tag named like the tracked branch must not redirect it.
    repo.git("tag", "main", first)
    cache.fetch(repo.url)
    assert cache.resolve(repo.url, "main") == second
    assert cache.resolve(repo.url, "refs/tags/main") == first
    assert cache.resolve(repo.url, "v1") == first
    assert cache.resolve(repo.url, "light") == first
    assert cache.resolve(repo.url, first) == first
    assert cache.resolve(repo.url, first[:8]) == first
    assert cache.resolve(repo.url, first.upper()) == first
    assert cache.resolve(repo.url, "HEAD") == second


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "unknown ref 'nope'"),
        ("f" * 40, "unknown ref 'fff"),
        ("-x", "ref '-x' starts with '-'"),
        ("--output=/tmp/x", "starts with '-'"),
        ("main\nx", "control characters"),
        ("main x", "whitespace"),
        ("main~1", "not a branch, tag or commit"),
        ("@{-1}", "not a branch, tag or commit"),
        ("", "ref is empty"),
    ],
)
def test_resolve_refuses_bad_and_unknown_refs(
    repo: GitRepo, cache: MirrorCache, ref: str, message: str
) -> None:
    with pytest.raises(GitError, match=message):
        cache.resolve(repo.url, ref)


def test_resolve_refuses_a_tree_sha(repo: GitRepo, cache: MirrorCache) -> None:
    tree = repo.git("rev-parse", "HEAD^{tree}")
    with pytest.raises(GitError, match="unknown ref"):
        cache.resolve(repo.url, tree)


def test_commit_metadata(repo: GitRepo, cache: MirrorCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Zoë Ops")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "zoe@example.test")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2024-03-01T12:34:56+02:00")
    sha = repo.commit("Deploy <b>app</b> $HOME `x`\n\nbody line")
    commit = cache.commit(repo.url, "main")
    assert commit.sha == sha
    assert commit.author_name == "Zoë Ops"
    assert commit.author_email == "zoe@example.test"
    assert commit.date == datetime(2024, 3, 1, 12, 34, 56, tzinfo=timezone(timedelta(hours=2)))
    assert commit.date.utcoffset() == timedelta(hours=2)
    assert commit.subject == "Deploy <b>app</b> $HOME `x`"


def test_changed_paths(repo: GitRepo, cache: MirrorCache) -> None:
    base = repo.commit("base", {"keep.txt": "k", "edit.txt": "1", "gone.txt": "g", "old/name.txt": "r" * 200})
    repo.git("rm", "-q", "gone.txt")
    (repo.path / "new").mkdir()
    repo.git("mv", "old/name.txt", "new/name.txt")
    head = repo.commit("change", {"edit.txt": "2", "added/file.txt": "a"})
    cache.fetch(repo.url)
    assert cache.changed_paths(repo.url, base, head) == (
        "added/file.txt",
        "edit.txt",
        "gone.txt",
        "new/name.txt",
        "old/name.txt",
    )
    assert cache.changed_paths(repo.url, head, head) == ()
    assert cache.changed_paths(repo.url, None, base) == (
        "README.md",
        "edit.txt",
        "gone.txt",
        "keep.txt",
        "old/name.txt",
        "stacks/app/main.tf",
    )


def test_changed_paths_with_unusual_names(repo: GitRepo, cache: MirrorCache) -> None:
    base = repo.head()
    head = repo.commit("odd", {"spaced name.txt": "s", "ünï.txt": "u", "-dash.txt": "d"})
    assert cache.changed_paths(repo.url, base, head) == ("-dash.txt", "spaced name.txt", "ünï.txt")


def test_cache_root_may_live_inside_another_work_tree(repo: GitRepo, tmp_path: Path) -> None:
    outer = GitRepo(tmp_path / "outer")
    outer.git("config", "url.file:///nonexistent/.insteadOf", repo.url)
    cache = MirrorCache(outer.path / "cache")
    assert cache.ls_remote(repo.url, "main") == repo.head()
    assert cache.resolve(repo.url, "main") == repo.head()
    assert not os.listdir(outer.path / "cache" / "tmp")
