"""Turning a ``git archive`` tarball into a sealed, read-only snapshot directory.

Engines read a stack from a snapshot of one commit, never from a work tree git could
change under them. :func:`extract` unpacks with tarfile's ``data`` filter (no absolute
or ``..`` members, no device files, no links leading out) and then checks every
symlink again after all of them exist, since a chain of links can only be judged
whole. :func:`seal` makes the tree read-only; :func:`remove` deletes one anyway.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path

from truenorth import paths
from truenorth.git import errors

__all__ = ["MAX_FILES", "MAX_TOTAL_BYTES", "extract", "remove", "seal"]

#: A commit with more content than this is refused whole (security case 3): a GitOps
#: repository holds configuration, not data, and a snapshot must not fill the disk.
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
#: ... or with more entries (files, folders, links) than this.
MAX_FILES = 200_000

_ESCAPES = (
    tarfile.AbsolutePathError,
    tarfile.OutsideDestinationError,
    tarfile.AbsoluteLinkError,
    tarfile.LinkOutsideDestinationError,
)


def extract(
    archive: Path,
    dest: Path,
    *,
    max_bytes: int = MAX_TOTAL_BYTES,
    max_files: int = MAX_FILES,
) -> None:
    """Unpack the tar file ``archive`` into the existing directory ``dest``.

    Raises :class:`PathEscapeError` naming the first member or symlink that leads
    outside ``dest``, and :class:`GitError` for any other refused or broken member.
    The caller removes ``dest`` on error. A commit over ``max_bytes`` of content or
    ``max_files`` entries is refused before anything is written.
    """
    try:
        with tarfile.open(archive, mode="r:") as tar:
            _check_size(tar, max_bytes=max_bytes, max_files=max_files)
            tar.extractall(dest, filter="data")
    except _ESCAPES as exc:
        name = exc.tarinfo.name
        raise errors.PathEscapeError(f"{name!r} points outside the repository; snapshot refused") from None
    except tarfile.FilterError as exc:
        raise errors.GitError(f"{exc.tarinfo.name!r} cannot be extracted: {exc}") from None
    except (tarfile.TarError, OSError) as exc:
        raise errors.GitError(f"extracting the archive failed: {exc}") from None
    links = paths.escaping_links(dest, ".")
    if links:
        raise errors.PathEscapeError(
            f"symlink {links[0]!r} points outside the repository; snapshot refused"
            + (f" (and {len(links) - 1} more)" if len(links) > 1 else "")
        )


def _check_size(tar: tarfile.TarFile, *, max_bytes: int, max_files: int) -> None:
    total = 0
    for files, member in enumerate(tar, start=1):
        total += max(member.size, 0)
        if files > max_files:
            raise errors.GitError(f"the commit has more than {max_files} files (limit); snapshot refused")
        if total > max_bytes:
            raise errors.GitError(f"the commit holds more than {max_bytes} bytes (limit); snapshot refused")


def seal(root: Path) -> None:
    """Make every file under ``root`` 0400 (0500 if executable) and every directory 0500.

    Read-only, and private to truenorth's user like everything in its data dir.
    """
    for directory, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o500 if mode & stat.S_IXUSR else 0o400)
        os.chmod(directory, 0o500)


def remove(root: Path) -> None:
    """Delete the tree at ``root`` even though its directories are read-only."""
    if not root.exists() and not root.is_symlink():
        return
    if root.is_symlink() or not root.is_dir():
        root.unlink()
        return
    # Top-down, so each directory is writable before its entries are listed and
    # deleted; os.walk never follows symlinks here.
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o700)
    shutil.rmtree(root)
