"""Keeping paths and symlinks inside a checkout (the filesystem, not git).

Repository content is hostile: a stack's ``path``, a var file or an inventory may say
``../../etc`` or be a symlink to ``/etc/passwd`` or to another stack's folder (Argo CD
CVE-2022-24348, CVE-2022-24904). :func:`resolve_inside` turns a repo-relative path
into a real path only if it stays inside the root after every symlink is followed;
:func:`escaping_links` lists the symlinks under a folder that lead out of it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from truenorth import texts

__all__ = ["PathEscapeError", "escaping_links", "is_inside", "resolve_inside"]


class PathEscapeError(ValueError):
    """A path or a symlink in a checkout points outside the place it must stay in.

    Git's adapter raises a subclass that is also a ``GitError``
    (:class:`truenorth.git.errors.PathEscapeError`); catch this one for both.
    """

    def __init__(self, message: str) -> None:
        super().__init__(texts.bound(message, 4000))

    @property
    def message(self) -> str:
        return str(self.args[0])


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or below it (both already resolved)."""
    return path == root or root in path.parents


def resolve_inside(root: Path, relative: str) -> Path:
    """The real path of ``root/relative``, which must stay inside ``root``.

    Refuses absolute paths and ``..`` outright, then follows symlinks and raises
    :class:`PathEscapeError` if the result is outside the real root. The target need
    not exist.
    """
    _check_relative(relative)
    real_root = root.resolve()
    target = (real_root / relative).resolve()
    if not is_inside(target, real_root):
        raise PathEscapeError(f"path {relative!r} resolves outside the repository (through a symlink)")
    return target


def escaping_links(root: Path, sub: str) -> list[str]:
    """Repo-relative paths of the symlinks that lead out of ``root/sub``.

    A link counts when its fully resolved target is outside ``root/sub`` (dangling
    links are judged by where they would point). If ``sub`` itself is reached
    through a symlink, that link is reported. Paths use ``/`` and are sorted.
    """
    _check_relative(sub)
    real_root = root.resolve()
    parts = [part for part in PurePosixPath(sub).parts if part != "."]
    walked = real_root
    for part in parts:
        walked = walked / part
        if walked.is_symlink():
            return [walked.relative_to(real_root).as_posix()]
    base = real_root.joinpath(*parts)
    if not base.is_dir():
        return []
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(base):
        for name in (*dirnames, *filenames):
            entry = Path(directory, name)
            if entry.is_symlink() and not is_inside(Path(os.path.realpath(entry)), base):
                found.append(entry.relative_to(real_root).as_posix())
    return sorted(found)


def _check_relative(relative: str) -> None:
    if "\x00" in relative:
        raise PathEscapeError(f"path {relative!r} contains a NUL byte")
    pure = PurePosixPath(relative)
    if pure.is_absolute():
        raise PathEscapeError(f"path {relative!r} is absolute; it must be relative to the repository")
    if ".." in pure.parts:
        raise PathEscapeError(f"path {relative!r} contains '..'")
