"""The canary values of the security suite, and where each one may legitimately rest.

Every secret the controller handles gets one distinctive value. The suite then looks for
each value (and the encodings in which it could slip out: the Basic-auth form of the Git
credential, URL quoting) in every answer, log line, database row and file the
controller wrote. :func:`allowed_at` says where on disk a canary may rest: the Git
mirrors and snapshots hold the repository itself, and Terraform's own state, saved
plans and working copy hold the Terraform sensitive value in clear text by design.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CANARIES",
    "GIT_USER",
    "Canary",
    "Finding",
    "allowed_at",
    "dump_database",
    "find_in_bytes",
    "find_in_tree",
]

#: The user name the controller puts in front of ``TRUENORTH_GIT_TOKEN`` for http(s) fetches.
GIT_USER = "x-access-token"


@dataclass(frozen=True)
class Canary:
    """One secret value and what it stands for."""

    key: str
    what: str
    value: str

    def forms(self) -> tuple[bytes, ...]:
        """The byte strings that would betray the value (plain, URL-quoted, Basic auth)."""
        found = {self.value.encode(), urllib.parse.quote(self.value, safe="").encode()}
        if self.key == "G":
            found.add(base64.b64encode(f"{GIT_USER}:{self.value}".encode()))
        return tuple(sorted(found))


CANARIES: Mapping[str, Canary] = {
    c.key: c
    for c in (
        Canary("A", "Terraform sensitive variable default", "tnA-tfsensitive-6c1f0e9b2d"),
        Canary("B", "Ansible no_log task value", "tnB-nolog-3a9d7e1c55"),
        Canary("C", "Ansible vault plaintext", "tnC-vaultplain-8e2b4f7a19"),
        Canary("D", "admin API token (TRUENORTH_TOKEN)", "tnD-admintoken-5f0c2a9e7b31"),
        Canary("E", "webhook secret (TRUENORTH_WEBHOOK_SECRET)", "tnE-webhooksecret-1d7b9c3e4a"),
        Canary("F", "vault password (TRUENORTH_SECRET_DEMO_VAULT)", "tnF-vaultpassword-7a3e5c1b9d"),
        Canary("G", "Git credential (TRUENORTH_GIT_TOKEN)", "tnG-gitcredential-2b8f6d0a4c"),
    )
}

# Paths (relative to the data dir, fnmatch patterns) where a canary may rest.
_REPOSITORY_COPIES = ("git/*",)
_TERRAFORM_OWN = (
    "state/*/terraform.tfstate",
    "state/*/terraform.tfstate.*",
    "state/*/terraform.tfstate.d/*",
    "state/*/plans/*.tfplan",
    "state/*/data/*",
    "state/*/work/tree/*",
)
_ALLOWED: Mapping[str, tuple[str, ...]] = {
    "A": _REPOSITORY_COPIES + _TERRAFORM_OWN,  # the default is committed; Terraform keeps it
    "B": _REPOSITORY_COPIES,  # the no_log value is a literal in the committed playbook
}


@dataclass(frozen=True)
class Finding:
    """Canary ``key`` found in ``where`` (with a little context around it)."""

    key: str
    where: str
    context: str

    def __str__(self) -> str:
        return f"canary {self.key} ({CANARIES[self.key].what}) in {self.where}: ...{self.context}..."


def allowed_at(key: str, relative: str) -> bool:
    """Whether canary ``key`` may rest in the data-dir file at ``relative`` (POSIX form)."""
    return any(fnmatch.fnmatchcase(relative, pattern) for pattern in _ALLOWED.get(key, ()))


def find_in_bytes(blob: bytes, *, where: str, keys: Iterable[str] = CANARIES) -> list[Finding]:
    """Every canary among ``keys`` that ``blob`` contains, in any of its forms."""
    found = []
    for key in keys:
        for form in CANARIES[key].forms():
            at = blob.find(form)
            if at >= 0:
                context = blob[max(0, at - 80) : at + len(form) + 40].decode("utf-8", "replace")
                found.append(Finding(key, where, context))
                break
    return found


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def find_in_tree(root: Path) -> list[Finding]:
    """Every canary resting in a file under ``root`` where :func:`allowed_at` does not allow it."""
    found = []
    for path in _files(root):
        relative = path.relative_to(root).as_posix()
        keys = [key for key in CANARIES if not allowed_at(key, relative)]
        found += find_in_bytes(path.read_bytes(), where=f"<data-dir>/{relative}", keys=keys)
    return found


def dump_database(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the SQLite file at ``path`` (opened read-only)."""
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master where type = 'table'")]
        return {table: list(db.execute(f'select * from "{table}"')) for table in tables}
