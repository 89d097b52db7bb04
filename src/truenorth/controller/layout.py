"""Where truenorth keeps its files under the data dir.

One place decides the layout so that the CLI, the controller and the tests agree:

    <data-dir>/truenorth.db          SQLite store (default)
    <data-dir>/git/                  mirrors and read-only snapshots per commit
    <data-dir>/state/<repo>/<stack>/ per-stack engine state (Terraform local state, saved plans);
                                     <repo> is the repository's name plus a hash of its URL
    <data-dir>/runs/<run-id>/        per-run inputs and redacted artifacts
    <data-dir>/cache/                caches shared by all stacks (Terraform plugins)
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_DATA_DIR", "DataLayout", "data_dir_from_env", "repository_dir"]

DEFAULT_DATA_DIR = Path(".truenorth")


def repository_dir(repository: str) -> str:
    """A folder name for a repository key (its credential-free URL): readable and unique.

    ``file:///srv/git/infra.git`` -> ``infra-1a2b3c4d``: the last path segment, made
    path-safe, and the first 8 hex digits of the key's SHA-256.
    """
    tail = repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail[:-4] if tail.endswith(".git") else tail
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", tail).strip(".-")[:40] or "repo"
    return f"{name}-{hashlib.sha256(repository.encode()).hexdigest()[:8]}"


def data_dir_from_env(explicit: Path | None = None) -> Path:
    """``--data-dir`` wins, then ``TRUENORTH_DATA_DIR``, then ``./.truenorth``."""
    if explicit is not None:
        return explicit
    env = os.environ.get("TRUENORTH_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


@dataclass(frozen=True)
class DataLayout:
    """Paths under one data dir. Creating them is explicit (:meth:`ensure`)."""

    root: Path

    @classmethod
    def at(cls, root: Path) -> DataLayout:
        """A layout rooted at the absolute form of ``root``."""
        return cls(root=root.expanduser().absolute())

    @property
    def git(self) -> Path:
        return self.root / "git"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def database(self) -> Path:
        return self.root / "truenorth.db"

    def state(self, stack: str, *, repository: str) -> Path:
        """The persistent directory of one stack of one repository (names are validated path-safe).

        Stacks of one repository share a parent folder, so one stack can read another's
        local Terraform state; two repositories may both have a stack called ``network``.
        """
        return self.root / "state" / repository_dir(repository) / stack

    def run(self, run_id: int) -> Path:
        """The directory of one recorded run."""
        return self.root / "runs" / str(run_id)

    def ensure(self) -> None:
        """Create the top-level folders, private to the current user."""
        for path in (self.root, self.git, self.cache, self.root / "state", self.root / "runs"):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
