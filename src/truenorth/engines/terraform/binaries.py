"""Finding the ``terraform``/``tofu`` executable and vetting it before a stack uses it.

A stack names its binary (``terraform`` or ``tofu``); the operator may map those names
to paths, else they are looked up on PATH. Before the first use the binary must say
which version it is (``version -json``), and that version must be one truenorth can
drive (:mod:`.versions`). A missing file, a program that dies or prints something else,
or a too-old release each get their own clear message (security case 26). Answers are
cached per file (path, size, modification time), so the check costs one run per binary.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from truenorth.core import redaction
from truenorth.engines import processes
from truenorth.engines.terraform import configs, versions

__all__ = ["Binaries", "Binary", "BinaryError"]


class BinaryError(Exception):
    """The binary cannot be used; the message says why (no secrets in it)."""


@dataclass(frozen=True)
class Binary:
    """A vetted executable."""

    name: str
    path: str
    version: str

    @property
    def identity(self) -> str:
        """Path and version: what ``init`` results depend on."""
        return f"{self.path}\0{self.version}"


class Binaries:
    """The executables for ``terraform`` and ``tofu``, checked once per file."""

    def __init__(self, *, paths: Mapping[str, str] | None = None, timeout: float) -> None:
        self._paths = dict(paths or {})
        self._timeout = timeout
        self._versions: dict[tuple[str, int, int], str | None] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str) -> str | None:
        """The configured path for ``name``, else where PATH finds it, else None."""
        configured = self._paths.get(name)
        return configured if configured else shutil.which(name)

    def version(self, name: str) -> str | None:
        """The version ``name`` reports, or None when it is missing or reports none."""
        path = self.resolve(name)
        if path is None:
            return None
        try:
            return self._version_of(path, name=name)
        except BinaryError:
            return None

    def checked(self, name: str) -> Binary:
        """The binary for ``name``, vetted; raises :class:`BinaryError` saying what is wrong."""
        path = self.resolve(name)
        if path is None:
            raise BinaryError(f"{name} is not installed (not found on PATH)")
        version = self._version_of(path, name=name)
        problem = versions.problem(version, binary=f"{name} ({path})")
        if problem:
            raise BinaryError(problem)
        assert version is not None  # problem() reports a missing version
        return Binary(name=name, path=path, version=version)

    def _version_of(self, path: str, *, name: str) -> str | None:
        """``version -json`` of ``path`` (cached); raises when it cannot be run to the end."""
        try:
            info = os.stat(path)
        except OSError:
            raise BinaryError(f"{name} not found at {path}; install it or fix the configured path") from None
        key = (path, info.st_mtime_ns, info.st_size)
        with self._lock:
            if key in self._versions:
                return self._versions[key]
        env = {"PATH": os.environ.get("PATH", os.defpath), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
        try:
            result = processes.run(
                configs.version_argv(path),
                cwd=Path(path).parent,
                env=env,
                timeout=self._timeout,
                redactor=redaction.Redactor(),
            )
        except OSError as exc:  # ProgramMissing included: it vanished or is not executable
            raise BinaryError(f"{path} cannot be started: {exc.strerror or exc}") from None
        if not result.ok:
            raise BinaryError(f"`{path} version -json` failed: {result.describe_failure()}")
        version = versions.parse_version(result.stdout)
        with self._lock:
            self._versions[key] = version
        return version
