"""Fixtures for the Git adapter tests: a source repository and an empty cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth.git.mirrors import MirrorCache


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """A source repository on branch ``main`` with one commit."""
    source = GitRepo(tmp_path / "source")
    source.commit("initial", {"README.md": "hello\n", "stacks/app/main.tf": "# app\n"})
    return source


@pytest.fixture
def cache(tmp_path: Path) -> MirrorCache:
    return MirrorCache(tmp_path / "cache", timeout=30)
