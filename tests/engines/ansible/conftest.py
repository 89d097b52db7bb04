"""Fixtures for the Ansible engine: Git-made sealed checkouts, stack contexts, SSH hosts.

A :class:`Lab` commits files to a real Git repository, exports the commit with ``git
archive`` into a read-only snapshot (as the controller does) and builds
:class:`~truenorth.engines.protocol.StackContext` values with a fresh run dir each. The
``ssh_hosts`` fixture (real sshd, one host in a network namespace) comes from
:mod:`tests.support.sshd`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.gitrepos import GitRepo
from tests.support.sshd import ssh_hosts  # noqa: F401 - the fixture, re-exported for these tests
from truenorth.core import redaction, specs
from truenorth.engines import protocol, sandbox
from truenorth.engines.ansible import AnsibleEngine
from truenorth.git import trees

DATA = Path(__file__).resolve().parents[2] / "data" / "ansible"


def stack(name: str = "hosts", path: str = "stacks/hosts", **options: Any) -> specs.StackSpec:
    """An Ansible stack spec; ``options`` are AnsibleOptions fields."""
    return specs.StackSpec(name=name, engine="ansible", path=path, options=specs.AnsibleOptions(**options))


def tree_digest(root: Path) -> str:
    """Names, link targets and contents of everything under ``root``."""
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = Path(directory, name)
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def everything_under(root: Path) -> str:
    """All text under ``root`` (names and contents), to search for leaked secrets."""
    parts = []
    for directory, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(directory, name)
            parts.append(str(path))
            if path.is_file() and not path.is_symlink():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


@dataclass
class Lab:
    """Builds Git checkouts and stack contexts under one test's tmp dir."""

    root: Path
    runs: int = 0
    lines: list[str] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    #: Host paths the sandbox lets the runs read (an SSH client key, known_hosts): what an
    #: operator lists in the repository's ``sandbox_read_only``.
    readable: list[Path] = field(default_factory=list)

    _repo: GitRepo | None = None

    @property
    def repo(self) -> GitRepo:
        if self._repo is None:
            self._repo = GitRepo(self.root / "repo")
        return self._repo

    def policy(self, **options: Any) -> sandbox.Policy:
        """The sandbox policy of this lab's runs (``options``: other Policy fields)."""
        return sandbox.Policy(writable=(self.hosts_dir,), read_only=tuple(self.readable), **options)

    @property
    def hosts_dir(self) -> Path:
        """The root of every test host's ``base_dir``."""
        return self.root / "hosts"

    def commit(
        self,
        files: Mapping[str, str | bytes],
        *,
        links: Mapping[str, str] | None = None,
        remove: tuple[str, ...] = (),
    ) -> tuple[str, Path]:
        """Commit ``files`` (and symlinks), export the commit; return (sha, sealed checkout)."""
        repo = self.repo
        repo.write(files)
        for rel, target in (links or {}).items():
            path = repo.path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or path.exists():
                path.unlink()
            path.symlink_to(target)
        for rel in remove:
            (repo.path / rel).unlink()
        sha = repo.commit("change")
        checkout = self.root / "snapshots" / sha
        if not checkout.exists():
            checkout.mkdir(parents=True)
            archive = self.root / f"{sha}.tar"
            subprocess.run(
                ["git", "archive", "--format=tar", f"--output={archive}", sha],
                cwd=repo.path,
                check=True,
            )
            trees.extract(archive, checkout)
            archive.unlink()
            trees.seal(checkout)
            self.snapshots.append(checkout)
        return sha, checkout

    def ctx(
        self,
        spec: specs.StackSpec,
        checkout: Path,
        *,
        revision: str,
        **extra: Any,
    ) -> protocol.StackContext:
        """A context with a fresh run dir and redactor; output lines go to ``lines``.

        Its sandbox policy lets applies write the test hosts' folders (``connection:
        local`` plays manage them; plans only read them) and lets runs read ``readable``.
        """
        self.runs += 1
        extra.setdefault("on_output", self.lines.append)
        extra.setdefault("redactor", redaction.Redactor())
        extra.setdefault("sandbox", self.policy())
        return protocol.StackContext(
            stack=spec,
            checkout=checkout,
            revision=revision,
            run_dir=self.root / "data" / "runs" / str(self.runs),
            state_dir=self.root / "data" / "state" / spec.name,
            cache_dir=self.root / "data" / "cache",
            **extra,
        )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    made = Lab(root=tmp_path)
    yield made
    for snapshot in made.snapshots:
        trees.remove(snapshot)


@pytest.fixture
def engine() -> AnsibleEngine:
    return AnsibleEngine()


def local_inventory(lab: Lab, *names: str, extra: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A YAML inventory of ``ansible_connection=local`` hosts, each with its own base_dir."""
    import yaml

    hosts: dict[str, dict[str, Any]] = {}
    for name in names or ("local",):
        hosts[name] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "base_dir": str(lab.hosts_dir / name),
        }
        hosts[name].update((extra or {}).get(name, {}))
    return yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=True)


def encrypt(text: str, password: str) -> str:
    """``text`` as an Ansible vault file (what ``ansible-vault encrypt`` writes)."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(password.encode()))])
    return str(vault.encrypt(text).decode())


def inline_vault(value: str, password: str, *, indent: int = 2) -> str:
    """A YAML ``!vault |`` block scalar holding ``value``."""
    body = encrypt(value, password).strip().splitlines()
    pad = " " * indent
    return "!vault |\n" + "".join(f"{pad}{line}\n" for line in body)
