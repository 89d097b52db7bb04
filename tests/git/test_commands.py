"""Running git: hooks off, transports restricted, bounded in time, redacted."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth.git import commands
from truenorth.git.errors import GitError


def test_locked_down_settings_reach_git(repo: GitRepo) -> None:
    def config(key: str) -> str:
        return commands.run_git(["config", "--get", key], cwd=repo.path).text().strip()

    assert config("core.hooksPath") == "/dev/null"
    assert config("protocol.ext.allow") == "never"
    env = commands.git_env(repo.path)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_ALLOW_PROTOCOL"] == "file:git:http:https:ssh"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"


def test_hooks_never_run(repo: GitRepo) -> None:
    marker = repo.path.parent / "hook-ran"
    hook = repo.path / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    commands.run_git(["commit", "-q", "--allow-empty", "-m", "via adapter"], cwd=repo.path)
    assert not marker.exists()
    # The same commit through plain git runs the hook: the test would notice a change.
    repo.git("commit", "-q", "--allow-empty", "-m", "plain")
    assert marker.exists()


def test_ext_transport_is_refused_by_git_itself(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(GitError, match="ls-remote failed"):
        commands.run_git(["ls-remote", f"ext::sh -c touch% {marker}"], cwd=tmp_path)
    assert not marker.exists()


def test_inherited_git_dir_and_enclosing_repositories_are_ignored(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", str(repo.path / ".git"))
    inner = repo.path / "stacks"
    out = commands.run_git(["rev-parse", "--git-dir"], cwd=inner, ok_codes=(0, 128))
    assert out.returncode == 128
    assert "not a git repository" in out.stderr


def test_failure_raises_with_masked_stderr(repo: GitRepo) -> None:
    with pytest.raises(GitError) as caught:
        commands.run_git(["show", "zzSECRETzz-value"], cwd=repo.path, secrets=["zzSECRETzz"])
    assert "git show failed (exit 128)" in str(caught.value)
    assert "unknown revision" in str(caught.value)
    assert "zzSECRETzz" not in str(caught.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says anything."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_timeout_kills_git_and_reports_it(tmp_path: Path, silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(GitError, match=r"git ls-remote timed out after 0\.5s"):
        commands.run_git(["ls-remote", f"git://127.0.0.1:{silent_server}/repo"], cwd=tmp_path, timeout=0.5)
    assert time.monotonic() - started < 30  # the timeout acted (a silent server never answers)
    leftover = subprocess.run(
        ["pgrep", "-f", f"127.0.0.1:{silent_server}"], capture_output=True, text=True, check=False
    )
    assert leftover.stdout == ""
