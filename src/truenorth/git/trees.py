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

from truenorth.git import confinement, errors

__all__ = ["extract", "remove", "seal"]

_ESCAPES = (
    tarfile.AbsolutePathError,
    tarfile.OutsideDestinationError,
    tarfile.AbsoluteLinkError,
    tarfile.LinkOutsideDestinationError,
)


def extract(archive: Path, dest: Path) -> None:
    """Unpack the tar file ``archive`` into the existing directory ``dest``.

    Raises :class:`PathEscapeError` naming the first member or symlink that leads
    outside ``dest``, and :class:`GitError` for any other refused or broken member.
    The caller removes ``dest`` on error.
    """
    try:
        with tarfile.open(archive, mode="r:") as tar:
            tar.extractall(dest, filter="data")
    except _ESCAPES as exc:
        name = exc.tarinfo.name
        raise errors.PathEscapeError(f"{name!r} points outside the repository; snapshot refused") from None
    except tarfile.FilterError as exc:
        raise errors.GitError(f"{exc.tarinfo.name!r} cannot be extracted: {exc}") from None
    except (tarfile.TarError, OSError) as exc:
        raise errors.GitError(f"extracting the archive failed: {exc}") from None
    links = confinement.escaping_links(dest, ".")
    if links:
        raise errors.PathEscapeError(
            f"symlink {links[0]!r} points outside the repository; snapshot refused"
            + (f" (and {len(links) - 1} more)" if len(links) > 1 else "")
        )


def seal(root: Path) -> None:
    """Make every file under ``root`` 0444 (0555 if executable) and every directory 0555."""
    for directory, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o555 if mode & stat.S_IXUSR else 0o444)
        os.chmod(directory, 0o555)  # noqa: S103 - read-only for everyone is the point


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
