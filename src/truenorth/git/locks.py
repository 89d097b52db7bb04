"""Exclusive file locks: one writer per mirror, across threads and processes.

Two controller replicas (or two threads) fetching into one mirror at once would race
on its refs and packs. :func:`exclusive` holds a ``flock`` on a lock file next to the
mirror while it is written; each call opens its own file description, so the lock
also excludes other threads of the same process. The kernel drops the lock when the
holder exits, so a killed process never leaves a mirror locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["exclusive"]


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
