"""Commit metadata is untrusted text: bounded where it enters, never a crash or a stall.

Whoever can push chooses the author and the subject. A real repository gets a commit
with a 1 MiB subject of adversarial text, a huge author name and terminal control
characters; reading it back through the mirror gives bounded fields with a visible
marker, and a git error quoting a huge ref is bounded too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth.git import commits, errors, refs
from truenorth.git.mirrors import MirrorCache

MIB = 1024 * 1024


@pytest.mark.timeout(60)
def test_a_one_mebibyte_subject_is_bounded(
    repo: GitRepo, cache: MirrorCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "n" * 5000)
    subject = "\x1b]0;pwned\x07\u202e" + "a1" * (MIB // 2) + "x://" * 1000
    message = tmp_path / "message.txt"  # one argv string may not exceed 128 KiB: -F, not -m
    message.write_text(subject + "\n\n" + "body " * 50_000 + "\n")
    repo.git("commit", "-q", "--allow-empty", "-F", str(message))
    commit = cache.commit(repo.url, "main")
    assert commit.subject.startswith("\x1b]0;pwned\x07\u202ea1a1")
    assert len(commit.subject) < commits.MAX_SUBJECT + 40
    assert commit.subject.endswith(f"... ({len(subject.encode()) - commits.MAX_SUBJECT - 2} more bytes)")
    assert commit.author_name == "n" * commits.MAX_NAME + f"... ({5000 - commits.MAX_NAME} more bytes)"


def test_short_fields_are_kept_whole() -> None:
    made = commits.Commit("a" * 40, "Zoë", "z@example.test", datetime.now(UTC), "fix: \x1b[31m red")
    assert (made.author_name, made.subject) == ("Zoë", "fix: \x1b[31m red")


def test_an_error_quoting_a_huge_ref_is_bounded() -> None:
    with pytest.raises(errors.GitError) as caught:
        refs.check_ref("a\n" + "b" * MIB)
    assert len(caught.value.message) < errors.MAX_MESSAGE + 40
    assert caught.value.message.endswith("more bytes)")
