"""Snapshots: the exact committed tree, read-only, atomic, and never escaping."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth.git.errors import GitError, PathEscapeError
from truenorth.git.mirrors import MirrorCache


def blob(repo: GitRepo, obj: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", obj], cwd=repo.path, capture_output=True, check=True
    ).stdout


def committed_tree(repo: GitRepo, sha: str) -> dict[str, tuple[str, bytes]]:
    """Every entry of commit ``sha`` as git stores it: path -> (mode, content)."""
    entries: dict[str, tuple[str, bytes]] = {}
    for line in repo.git("ls-tree", "-r", "-z", sha).split("\0"):
        if not line:
            continue
        meta, path = line.split("\t", 1)
        mode, kind, obj = meta.split()
        content = b"" if kind == "commit" else blob(repo, obj)
        entries[path] = (mode, content)
    return entries


def snapshot_tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """The same view of a snapshot directory on disk."""
    entries: dict[str, tuple[str, bytes]] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                entries[rel] = ("120000", os.readlink(path).encode())
            elif path.is_file():
                executable = path.stat().st_mode & stat.S_IXUSR
                entries[rel] = ("100755" if executable else "100644", path.read_bytes())
            elif not os.listdir(path):
                entries[rel] = ("160000", b"")  # only submodules leave empty folders
    return entries


@pytest.fixture
def rich_repo(repo: GitRepo) -> GitRepo:
    """A commit with the things export could alter: attributes, modes, links, a submodule."""
    repo.write(
        {
            ".gitattributes": "subst.txt export-subst\nhidden.txt export-ignore\n* text eol=crlf\n",
            "subst.txt": "$Format:%H$\n",
            "hidden.txt": "still here\n",
            "lf.txt": "one\ntwo\n",
            "bin/run.sh": "#!/bin/sh\necho hi\n",
            "data.bin": bytes(range(256)),
        }
    )
    (repo.path / "bin" / "run.sh").chmod(0o755)
    (repo.path / "stacks" / "app" / "readme-link").symlink_to("../../README.md")
    repo.git("add", "-A")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{repo.head()},vendor/sub")
    repo.commit("rich")
    return repo


def test_snapshot_holds_exactly_the_committed_tree(rich_repo: GitRepo, cache: MirrorCache) -> None:
    sha = rich_repo.head()
    root = cache.snapshot(rich_repo.url, "main")
    assert root == cache.root / "snapshots" / sha
    assert snapshot_tree(root) == committed_tree(rich_repo, sha)
    assert (root / "stacks/app/readme-link").read_text() == "hello\n"


def test_snapshot_is_read_only(rich_repo: GitRepo, cache: MirrorCache) -> None:
    root = cache.snapshot(rich_repo.url, "main")
    assert stat.S_IMODE(root.stat().st_mode) == 0o500
    assert stat.S_IMODE((root / "stacks" / "app").stat().st_mode) == 0o500
    assert stat.S_IMODE((root / "README.md").stat().st_mode) == 0o400
    assert stat.S_IMODE((root / "bin" / "run.sh").stat().st_mode) == 0o500
    for directory, _, filenames in os.walk(root):
        assert not os.stat(directory).st_mode & 0o222
        for name in filenames:
            path = os.path.join(directory, name)
            if not os.path.islink(path):  # a link's own mode is always 0777 on Linux
                assert not os.stat(path).st_mode & 0o222


def test_snapshot_is_idempotent_and_reused(repo: GitRepo, cache: MirrorCache) -> None:
    first = cache.snapshot(repo.url, "main")
    inode = first.stat().st_ino
    sha = repo.head()
    repo.commit("later")
    assert cache.snapshot(repo.url, sha) == first
    assert first.stat().st_ino == inode
    assert sorted(p.name for p in (cache.root / "snapshots").iterdir()) == [sha]


def test_concurrent_snapshots_agree(repo: GitRepo, cache: MirrorCache) -> None:
    cache.fetch(repo.url)
    sha = repo.head()
    results: list[Path] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def take() -> None:
        barrier.wait()
        try:
            results.append(cache.snapshot(repo.url, sha))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=take) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert failures == []
    assert results == [cache.root / "snapshots" / sha] * 4
    assert sorted(p.name for p in (cache.root / "snapshots").iterdir()) == [sha]
    assert (results[0] / "README.md").read_text() == "hello\n"


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("stacks/app/passwd", "/etc/passwd"),
        ("stacks/app/outside", "../../../outside"),
        ("stacks/app/chain", "hop"),  # hop itself leads out, added below
    ],
)
def test_snapshot_refuses_links_leading_out(
    repo: GitRepo, cache: MirrorCache, link: str, target: str
) -> None:
    (repo.path / "stacks" / "app" / "hop").symlink_to("../../..")
    (repo.path / link).symlink_to(target)
    sha = repo.commit("hostile link")
    with pytest.raises(PathEscapeError, match="points outside the repository") as caught:
        cache.snapshot(repo.url, sha)
    assert "stacks/app/" in str(caught.value)
    assert list((cache.root / "snapshots").iterdir()) == []
    assert list((cache.root / "tmp").iterdir()) == []


def test_snapshot_refuses_a_link_to_the_parent_of_the_tree(repo: GitRepo, cache: MirrorCache) -> None:
    (repo.path / "up").symlink_to("..")
    sha = repo.commit("link up")
    with pytest.raises(PathEscapeError, match="'up'"):
        cache.snapshot(repo.url, sha)
    assert list((cache.root / "snapshots").iterdir()) == []


def test_snapshot_allows_links_inside(repo: GitRepo, cache: MirrorCache) -> None:
    (repo.path / "stacks" / "shared").mkdir()
    (repo.path / "stacks" / "shared" / "vars.tf").write_text("# shared\n")
    (repo.path / "stacks" / "app" / "shared").symlink_to("../shared")
    root = cache.snapshot(repo.url, repo.commit("inside link"))
    assert (root / "stacks" / "app" / "shared" / "vars.tf").read_text() == "# shared\n"


def test_remove_snapshot(repo: GitRepo, cache: MirrorCache) -> None:
    sha = repo.head()
    root = cache.snapshot(repo.url, sha)
    cache.remove_snapshot(sha)
    assert not root.exists()
    assert list((cache.root / "snapshots").iterdir()) == []
    cache.remove_snapshot(sha)  # already gone: nothing to do
    assert cache.snapshot(repo.url, sha) == root  # and it can be rebuilt
    with pytest.raises(GitError, match="not a full commit SHA"):
        cache.remove_snapshot("../" + sha[:37])


def test_snapshot_of_unknown_commit(repo: GitRepo, cache: MirrorCache) -> None:
    with pytest.raises(GitError, match="unknown ref"):
        cache.snapshot(repo.url, "0" * 40)


def test_snapshot_over_the_size_limits_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    sha = repo.commit("big", {"data/blob.bin": b"x" * 4096, **{f"many/{n}.txt": "n" for n in range(30)}})
    small = MirrorCache(tmp_path / "small-bytes", max_snapshot_bytes=2048)
    with pytest.raises(GitError, match="more than 2048 bytes \\(limit\\)"):
        small.snapshot(repo.url, sha)
    assert list((small.root / "snapshots").iterdir()) == []
    few = MirrorCache(tmp_path / "few-files", max_snapshot_files=10)
    with pytest.raises(GitError, match="more than 10 files \\(limit\\)"):
        few.snapshot(repo.url, sha)
    assert (
        MirrorCache(tmp_path / "default").snapshot(repo.url, sha).joinpath("data/blob.bin").stat().st_size
        == 4096
    )
