"""Keeping an Ansible stack inside its folder: paths and symlinks that leave it are refused.

The playbook and the inventory are named in ``truenorth.yaml`` relative to the stack
folder; both are checked lexically (no ``..``, absolute or encoded paths) and again after
resolving symlinks. Before Ansible reads anything, :func:`stack_files` walks the whole
stack folder (bounded) and refuses any committed symlink whose target leaves it, so a
template or vars file cannot be a link to ``/etc/passwd``, the controller's data or
another stack (security cases 1 and 2).
"""

from __future__ import annotations

import os
from pathlib import Path

from truenorth import paths
from truenorth.core import specs
from truenorth.engines import protocol

__all__ = ["MAX_STACK_ENTRIES", "resolve_inside", "stack_files"]

#: The most files and folders a stack folder may hold.
MAX_STACK_ENTRIES = 20_000
_SKIPPED_DIRS = frozenset({".git"})


def resolve_inside(root: Path, relative: str, *, what: str) -> Path:
    """The real path of ``relative`` under ``root``; EngineError if it escapes ``root``.

    ``what`` names the path in the error ("playbook", "inventory"). The target need not
    exist: callers check existence themselves and say so.
    """
    problem = specs.check_relative_path(relative)
    if problem:
        raise protocol.EngineError(f"{what} path refused: {problem}")
    try:
        return paths.resolve_inside(root, relative)
    except paths.PathEscapeError as exc:
        raise protocol.EngineError(f"{what} path refused: {exc}") from None


def stack_files(root: Path, *, max_entries: int = MAX_STACK_ENTRIES) -> tuple[Path, ...]:
    """Every regular file under ``root`` (``.git`` skipped), refusing escaping symlinks.

    Raises EngineError naming the first symlink that points outside ``root``, or when the
    folder holds more than ``max_entries`` entries.
    """
    real_root = root.resolve(strict=True)
    files: list[Path] = []
    count = 0
    for folder, dirs, names in os.walk(real_root, followlinks=False):
        dirs[:] = [name for name in dirs if name not in _SKIPPED_DIRS]
        base = Path(folder)
        for name in [*dirs, *names]:
            count += 1
            if count > max_entries:
                raise protocol.EngineError(
                    f"the stack folder holds more than {max_entries} files and folders (limit)"
                )
            path = base / name
            if path.is_symlink():
                target = Path(os.path.realpath(path))
                if not paths.is_inside(target, real_root):
                    raise protocol.EngineError(
                        f"{path.relative_to(real_root)} is a symlink that points outside the stack folder; refused"
                    )
                continue
            if name in names and path.is_file():
                files.append(path)
    return tuple(sorted(files))
