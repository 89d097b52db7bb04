"""Holding the stacks a local command works on, and sharing their state as replicas do.

A local command (``truenorth plan|apply|drift``, ``sync|approve|rollback --repo``) runs
engines in a stack's state dir: Terraform rebuilds its working copy (``work/tree``) and
writes the saved plan there, so two commands on one stack at once would race in it, and
a ``plan`` between another command's plan and apply would replace the plan it applies.
So a local command *holds* each stack it works on for as long as it works on it:

* **The data dir's stack lock** (every store): an exclusive ``flock`` on
  ``<data dir>/locks/<hash of repository and stack>.lock``, which says who holds it
  (command, pid, since). Local commands share the data dir itself
  (:func:`truenorth.controller.runs.ownership.share`); these locks keep them off each
  other's stacks. ``truenorth serve`` takes none of them: it holds the data dir
  exclusively, so no local command runs beside it anyway.
* **The stack's database lock** (PostgreSQL: ``Store.stack_lock``, the session-level
  advisory lock every replica's plan or apply holds, :mod:`truenorth.controller.loop.locks`),
  so that a local command on a store replicas serve is one more replica for the stacks
  it touches. It never holds the repository's *lease* and does not need to: leases say
  which replica should work on a repository, the stack lock is what keeps two
  operations off one stack (a replica whose lease expired still holds its stack locks).
  The owning replica finds the stack busy meanwhile (its loop waits and tries again, an
  action answers 409) and goes on from what the local command recorded.

A busy stack is refused at once (the database lock after a short bounded wait,
:data:`DATABASE_WAIT`), before anything is recorded, with :class:`StackBusy` naming the
stack and what to do; nothing ever waits for another command to end.

On PostgreSQL a local command also uses the state replicas share (:func:`share_state`):
Terraform stacks without a backend keep their state in the ``pg`` backend
(``TRUENORTH_TERRAFORM_STATE_URL``, else the store's URL, as ``terraform_state_url`` for
``truenorth serve``), and Kubernetes inventories are carried through the store
(:mod:`truenorth.controller.runs.carrying`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from truenorth.controller.runs import ownership, runtime
from truenorth.engines.terraform import pgstate
from truenorth.store import locking

__all__ = [
    "DATABASE_WAIT",
    "LOCKS_FOLDER",
    "STATE_URL_VARIABLE",
    "SettingError",
    "StackBusy",
    "hold",
    "share_state",
    "shared_state_url",
]

#: Under the data dir: one lock file per stack local commands hold.
LOCKS_FOLDER = "locks"
#: Seconds to wait for a stack's database lock another session holds before refusing
#: (a replica lets go of it in a thread, a moment after its operation ended).
DATABASE_WAIT = 2.0
#: Where the Terraform state of stacks without a backend lives, for local commands.
STATE_URL_VARIABLE = "TRUENORTH_TERRAFORM_STATE_URL"
_SHOWN_NAME = 100


class StackBusy(Exception):  # noqa: N818 (a condition, not an error kind)
    """Another command or controller works on the stack now; the message says which and what to do."""


class SettingError(ValueError):
    """A setting of the local command is not usable; the message names it (never its value)."""


def shared_state_url(store_url: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Where Terraform state is shared (libpq form), for a local command on ``store_url``.

    None on SQLite (one controller: the state stays in the data dir). On PostgreSQL,
    ``TRUENORTH_TERRAFORM_STATE_URL`` when set (a ``postgresql://`` URL), else the store's.
    """
    if store_url is None or not _is_postgresql(store_url):
        return None
    env = os.environ if environ is None else environ
    chosen = env.get(STATE_URL_VARIABLE) or store_url
    if not _is_postgresql(chosen):
        raise SettingError(
            f"{STATE_URL_VARIABLE}: must be a postgresql:// URL (the database of Terraform's pg backend)"
        )
    if any(char in chosen for char in "\x00\r\n"):
        raise SettingError(f"{STATE_URL_VARIABLE}: holds a control character")
    return pgstate.libpq_url(chosen)


def share_state(rt: runtime.Runtime, store_url: str | None, environ: Mapping[str, str] | None = None) -> None:
    """Use the state replicas share when ``rt``'s store is PostgreSQL (:func:`shared_state_url`)."""
    if rt.store.backend != "postgresql":
        return
    rt.shared_state_url = shared_state_url(store_url, environ)


@contextlib.contextmanager
def hold(rt: runtime.Runtime, repository: str, stacks: Sequence[str], *, command: str) -> Iterator[None]:
    """Hold each of ``stacks`` of ``repository`` (a key) until the block ends; :class:`StackBusy` if one is taken.

    The data dir's lock of every stack first, then (PostgreSQL) their database locks.
    ``command`` is what a refused command is told holds them (``truenorth apply``).
    A database that cannot be reached raises its ``StoreError``.
    """
    names = list(dict.fromkeys(stacks))
    with contextlib.ExitStack() as held:
        for stack in names:
            held.enter_context(_data_dir_lock(rt.layout.root, repository, stack, command=command))
        for stack in names:
            held.enter_context(_database_lock(rt, repository, stack))
        yield


# ----------------------------------------------------------------------------- internals


def _is_postgresql(url: str) -> bool:
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    return bool(sep) and (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"))


def _shown(stack: str) -> str:
    return repr(stack[:_SHOWN_NAME])


@contextlib.contextmanager
def _data_dir_lock(root: Path, repository: str, stack: str, *, command: str) -> Iterator[None]:
    folder = Path(root) / LOCKS_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(
        repository.encode("utf-8", "surrogatepass") + b"\x00" + stack.encode("utf-8", "surrogatepass")
    ).hexdigest()[:32]
    fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if not ownership.lock_taken(exc):
                raise
            holder = ownership.holder_text(ownership.holder_info(fd), command="truenorth")
            raise StackBusy(
                f"stack {_shown(stack)} is busy: another truenorth command on this data dir is working on "
                f"it ({holder}); try again when it is done"
            ) from None
        info = {"command": command, "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        yield  # the kernel lets go when the process dies, however it dies
    finally:
        os.close(fd)


@contextlib.contextmanager
def _database_lock(rt: runtime.Runtime, repository: str, stack: str) -> Iterator[None]:
    lock = rt.store.stack_lock(repository, stack, wait=DATABASE_WAIT)  # SQLite: holds nothing
    try:
        lock.acquire()
    except locking.StackBusy:
        raise StackBusy(
            f"stack {_shown(stack)} of {repository} is busy on another controller (or another truenorth "
            "command on this store); try again, or act through the controller with --server URL"
        ) from None
    try:
        yield
    finally:
        lock.release()
