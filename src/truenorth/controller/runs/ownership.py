"""One controller per data dir, and who recorded a run.

Two ``truenorth serve`` on one data dir would delete each other's working copies, apply
one stack twice at once and mark each other's runs interrupted. So the data dir has a
lock file (``controller.lock``, ``flock``): ``truenorth serve`` holds it *exclusively*
for as long as it runs, and the local commands that run engines in the data dir
(``plan``, ``apply``, ``drift``, ``sync``/``approve``/``rollback --repo``) hold it
*shared* while they work. So a second controller exits at start naming the first (host,
pid, since when, its URL), a local command refuses while a controller runs and points at
``--server``, and a controller does not start under a local apply. The kernel releases
the lock when its holder dies, however it dies: nothing is ever left to clean up.

On PostgreSQL, several data dirs share one database (controller replicas, each with its
own data dir); a controller also takes a PostgreSQL advisory lock keyed by its data dir's
instance id (:mod:`truenorth.store.claiming`), so a second controller with the same
instance id (a copied data dir) refuses to start.

Every data dir has an instance id (``instance-id``, made once). Runs are recorded with
a holder ``<instance id>/<host>:<pid>``, so crash recovery ends only the runs that this
data dir's previous processes left, never another controller's on a shared database.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from truenorth import texts
from truenorth.engines import processes
from truenorth.store import claiming

__all__ = [
    "INSTANCE_FILE",
    "LOCK_FILE",
    "DataDirBusy",
    "Ownership",
    "claim",
    "holder",
    "holder_info",
    "holder_text",
    "instance_id",
    "instance_of",
    "lock_taken",
    "private_files",
    "share",
]

LOCK_FILE = "controller.lock"
INSTANCE_FILE = "instance-id"
_INSTANCE = re.compile(r"^[0-9a-f]{32}$")
_MAX_INFO_BYTES = 4096


class DataDirBusy(Exception):  # noqa: N818 (a condition, not an error kind)
    """The data dir (or the shared database) is in use by another process; the message names it."""


class Ownership:
    """A held lock on a data dir (and, for a controller on PostgreSQL, on the database)."""

    def __init__(self, root: Path, fd: int, *, exclusive: bool) -> None:
        self.root = root
        self.exclusive = exclusive
        self._fd: int | None = fd
        self._store: claiming.Claim | None = None
        self._info: dict[str, Any] = {}

    def describe(self, **details: Any) -> None:
        """Add ``details`` (``url=``, say) to what a refused process is told about this holder."""
        if not self.exclusive or self._fd is None:
            return
        self._info.update(details)
        data = json.dumps(self._info).encode()
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    def claim_store(self, store_url: str | None, *, label: str) -> None:
        """Also hold this data dir's instance on the database (PostgreSQL; SQLite lives in the data dir)."""
        if store_url is None:
            return
        try:
            self._store = claiming.claim(store_url, label=label, instance=instance_id(self.root))
        except claiming.Claimed as exc:
            raise DataDirBusy(str(exc)) from None

    def release(self) -> None:
        """Let go of everything held (also done by the kernel when the process dies)."""
        if self._store is not None:
            self._store.release()
            self._store = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Ownership:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def claim(root: Path, *, command: str) -> Ownership:
    """Hold ``root`` exclusively (``truenorth serve``), or raise :class:`DataDirBusy` naming the holder."""
    root = _private_root(root)
    fd = _open_lock(root)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        message = _refusal_for_controller(root, fd) if lock_taken(exc) else None
        os.close(fd)
        if message is None:
            raise
        raise DataDirBusy(message) from None
    owned = Ownership(root, fd, exclusive=True)
    owned.describe(
        command=command, host=socket.gethostname(), pid=os.getpid(), since=datetime.now(UTC).isoformat()
    )
    return owned


@contextlib.contextmanager
def share(root: Path, *, command: str) -> Iterator[Ownership]:
    """Use ``root`` beside other local commands; :class:`DataDirBusy` while a controller holds it."""
    root = _private_root(root)
    fd = _open_lock(root)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        info = holder_info(fd) if lock_taken(exc) else None
        os.close(fd)
        if info is None:
            raise
        url = str(info.get("url") or "URL")[:200]
        raise DataDirBusy(
            f"data dir {root} is in use by a running controller ({holder_text(info)}): `{command}` would "
            "run engines beside it. Act through the controller instead (truenorth sync|approve|rollback "
            f"STACK --server {url}), or stop it first"
        ) from None
    with Ownership(root, fd, exclusive=False) as owned:
        yield owned


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Create files private to this user (umask 077) for a while: a local command's data dir.

    The umask is the process's: for a command-line process, which does one thing.
    """
    previous = os.umask(processes.PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def instance_id(root: Path) -> str:
    """This data dir's id (32 hex digits), made on first use and never changed."""
    path = Path(root).expanduser().absolute() / INSTANCE_FILE
    try:
        found = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        found = _create_instance_id(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise OSError(f"cannot read the data dir's instance id {path}: {exc}") from None
    if not _INSTANCE.match(found):
        raise OSError(
            f"the data dir's instance id {path} is damaged (expected 32 hex digits); "
            "restore it from a backup, or remove it if no run of this data dir is in flight"
        )
    return found


def holder(root: Path) -> str:
    """Who records runs from this process: ``<instance id>/<host>:<pid>``."""
    return f"{instance_id(root)}/{socket.gethostname()}:{os.getpid()}"[:255]


def instance_of(recorded: str | None) -> str | None:
    """The instance id in a run's holder; None for runs recorded before holders named one."""
    if not recorded:
        return None
    head, slash, _ = recorded.partition("/")
    return head if slash and _INSTANCE.match(head) else None


# ----------------------------------------------------------------------------- internals


def _private_root(root: Path) -> Path:
    root = Path(root).expanduser().absolute()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def _open_lock(root: Path) -> int:
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


def lock_taken(exc: OSError) -> bool:
    """Whether a non-blocking ``flock`` failed because another holds the lock."""
    return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def _refusal_for_controller(root: Path, fd: int) -> str:
    """Why ``serve`` may not start: another controller, or local commands at work."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return (
            f"data dir {root} is in use by another controller ({holder_text(holder_info(fd))}); "
            "stop it first, "
            "or give this one its own --data-dir"
        )
    fcntl.flock(fd, fcntl.LOCK_UN)
    pids = _lock_holders(fd)
    who = f" (pid {', '.join(map(str, pids))})" if pids else ""
    return (
        f"data dir {root} is in use by a local truenorth command{who} that runs engines there "
        "(plan, apply, drift, sync/approve/rollback --repo); start the controller when it is done"
    )


def holder_info(fd: int) -> dict[str, Any]:
    """What a lock file's holder wrote about itself (empty until it has; bounded)."""
    try:
        raw = os.pread(fd, _MAX_INFO_BYTES, 0)
        info = json.loads(raw.decode("utf-8")) if raw else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def holder_text(info: Mapping[str, Any], *, command: str = "truenorth serve") -> str:
    """``truenorth serve, pid 42, on host h, since ..., serving http://...``: what ``info``
    says, each part bounded, control characters escaped (``command`` when it names none)."""
    if "pid" not in info:
        return "its details are not written yet"
    parts = [str(info.get("command") or command), f"pid {info.get('pid')}"]
    if info.get("host"):
        parts.append(f"on host {info['host']}")
    if info.get("since"):
        parts.append(f"since {info['since']}")
    if info.get("url"):
        parts.append(f"serving {info['url']}")
    return texts.escape_controls(", ".join(str(part)[:200] for part in parts), keep_newlines=False)


def _lock_holders(fd: int) -> list[int]:
    """The pids holding a lock on the file ``fd`` is open on (from ``/proc/locks``; Linux)."""
    stat = os.fstat(fd)
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    pids = set()
    try:
        lines = Path("/proc/locks").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if "->" in fields:
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit():
            pids.add(int(fields[4]))
    pids.discard(os.getpid())
    return sorted(pids)


def _create_instance_id(path: Path) -> str:
    """Write a new id without ever replacing one another process wrote first."""
    made = secrets.token_hex(16)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(made + "\n")
    try:
        os.link(partial, path)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    finally:
        partial.unlink(missing_ok=True)
    return made
