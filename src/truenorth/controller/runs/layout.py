"""Where truenorth keeps its files under the data dir.

One place decides the layout so that the CLI, the controller and the tests agree:

    <data-dir>/truenorth.db          SQLite store (default)
    <data-dir>/git/                  mirrors and read-only snapshots per commit
    <data-dir>/state/<repo>/<stack>/ per-stack engine state (Terraform local state, saved plans,
                                     the Kubernetes inventory); <repo> names the repository and
                                     branch, plus a hash of its key (``<normalized URL>#<branch>``)
    <data-dir>/runs/<run-id>/        per-run inputs and redacted artifacts
    <data-dir>/cache/                caches shared by all stacks (Terraform plugins)
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_DATA_DIR", "DataLayout", "data_dir_from_env", "legacy_repository_dir", "repository_dir"]

DEFAULT_DATA_DIR = Path(".truenorth")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Taking over a legacy folder and creating the new one happen under this lock, so two
# stacks of one repository starting together never split its state between two folders.
_ADOPTING = threading.Lock()


def repository_dir(repository: str) -> str:
    """A folder name for a repository key (``<normalized URL>#<branch>``): readable and unique.

    ``/srv/git/infra#main`` -> ``infra-main-1a2b3c4d5e6f7a8b``: the last path segment and
    the branch, made path-safe, and the first 16 hex digits of the key's SHA-256 (the
    key tells two branches, or two URLs with the same last segment, apart).
    """
    location, _, branch = repository.partition("#")
    tail = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    readable = f"{tail}-{branch}" if branch else tail
    name = _UNSAFE.sub("-", readable).strip(".-")[:48] or "repo"
    return f"{name}-{hashlib.sha256(repository.encode()).hexdigest()[:16]}"


def legacy_repository_dir(repository: str) -> str:
    """The folder name state had before keys named a branch (key: the credential-free URL)."""
    tail = repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail[:-4] if tail.endswith(".git") else tail
    name = _UNSAFE.sub("-", tail).strip(".-")[:40] or "repo"
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

    @property
    def outputs_key(self) -> Path:
        """The key that seals sensitive stack outputs in the store (``TRUENORTH_OUTPUTS_KEY`` wins)."""
        return self.root / "outputs.key"

    def state(self, stack: str, *, repository: str, legacy: str | None = None) -> Path:
        """The persistent directory of one stack of one repository (names are validated path-safe).

        ``repository`` is the repository's key (URL and branch). Stacks of one repository
        share a parent folder, so one stack can read another's local Terraform state; two
        repositories, or two branches of one, may both have a stack called ``network``.

        ``legacy`` is the key the repository had before keys named a branch: when its
        folder exists and the repository has none yet, it is renamed to the new name
        (once, atomically), so Terraform state and Kubernetes inventories survive the
        upgrade; the repository's folder exists when this returns.
        """
        parent = self.root / "state" / repository_dir(repository)
        if legacy is not None and not parent.is_dir():
            with _ADOPTING:
                old = self.root / "state" / legacy_repository_dir(legacy)
                if not parent.is_dir() and old.is_dir():
                    os.rename(old, parent)
                parent.mkdir(parents=True, exist_ok=True)
        return parent / stack

    def run(self, run_id: int) -> Path:
        """The directory of one recorded run."""
        return self.root / "runs" / str(run_id)

    def ensure(self) -> None:
        """Create the top-level folders, private to the current user."""
        for path in (self.root, self.git, self.cache, self.root / "state", self.root / "runs"):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
