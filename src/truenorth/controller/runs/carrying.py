"""Carrying the engine state files replicas share between the store and a stack's state dir.

Issue 14: nothing a replica needs may live only on another replica's disk. An engine
keeps some state as files in the stack's ``state_dir`` (the Kubernetes inventory, which
drives pruning); after a takeover the new owner's state dir does not have them, and
objects removed from Git would never be pruned. Engines must not depend on the store:
they name those files (``shared_files``, see :class:`truenorth.engines.protocol.Engine`)
and the controller carries them, around every engine operation
(:mod:`.executing`: plan, drift check, apply, converge):

* :func:`restore`, before: the store's copy of each file is written into the state dir
  (atomically, 0600), replacing the local one. Operations run under the stack's lock
  (the database lock, with replicas), so the store holds the newest copy and a local
  one can only be older. A local file the store does not hold is kept (a data dir a
  single controller used brings its files along) and put into the store after.
* :func:`put_back`, after, whatever the operation's result (also when it raised): each
  file that differs from the store's copy is kept there; one the engine removed is
  deleted. An unchanged file costs no write.

Only when state is shared (``ctx.shared_state``: replicas on PostgreSQL). With one
controller the state dir stays the only copy: nothing here runs, not even a query.

Moving a single controller's SQLite store to PostgreSQL (``truenorth store migrate``)
takes its data dir's shared files along (:func:`local_files`), so that replicas on new
data dirs prune what it applied.

A preview (``read_only``) plans outside the stack's lock, while an operation of the same
stack may be writing its files: it only writes a file the state dir lacks (never
replacing one) and puts nothing back. Names are plain file names
(:func:`truenorth.store.filing.file_name`); a symbolic link, a folder or anything but a
regular file where a shared file belongs is refused and never followed; a file is at
most :data:`~truenorth.store.filing.MAX_FILE_BYTES`. Failures are
:class:`SharedFileError`, an engine error: the run fails with its message.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from truenorth.controller.runs import layout, registry, runtime
from truenorth.engines import protocol
from truenorth.store import errors as store_errors
from truenorth.store import filing, records

__all__ = ["Carried", "SharedFileError", "carried", "local_files", "put_back", "restore", "shared_names"]

log = logging.getLogger(__name__)


class SharedFileError(protocol.EngineError):
    """A shared state file cannot be carried between the store and the state dir."""


@dataclass(frozen=True)
class Carried:
    """What :func:`restore` did for one operation, for :func:`put_back` after it.

    ``stored``: each shared file's name and the digest of the store's copy when the
    operation started (None: the store held none).
    """

    repository: str
    stack: str
    state_dir: Path
    stored: Mapping[str, str | None]
    read_only: bool = False


def shared_names(engine: object) -> tuple[str, ...]:
    """The files of its state dir ``engine`` says replicas share (none unless it says so)."""
    names = getattr(engine, "shared_files", ())
    kind = getattr(engine, "name", type(engine).__name__)
    if isinstance(names, str) or not isinstance(names, tuple | list):
        raise SharedFileError(f"the {kind} engine's shared_files is not a tuple of file names")
    try:
        return tuple(dict.fromkeys(filing.file_name(name) for name in names))
    except ValueError as exc:
        raise SharedFileError(f"the {kind} engine names a shared file wrongly: {exc}") from None


def restore(
    rt: runtime.Runtime, ctx: protocol.StackContext, engine: object, *, read_only: bool = False
) -> Carried | None:
    """Write the store's copy of each of ``engine``'s shared files into ``ctx.state_dir``.

    None (nothing done, nothing asked of the store) when state is not shared or the
    engine shares no file. ``read_only`` (a preview): only files the state dir lacks.
    """
    shared = ctx.shared_state
    if shared is None:
        return None
    names = shared_names(engine)
    if not names:
        return None
    stack = ctx.stack.name
    try:
        kept = {item.name: item for item in rt.store.stack_files(repository=shared.repository, stack=stack)}
    except store_errors.StoreError as exc:
        raise SharedFileError(f"stack {stack}: cannot read its shared state from the store: {exc}") from None
    if ctx.state_dir.is_symlink() or not ctx.state_dir.is_dir():
        raise SharedFileError(f"stack {stack}: its state dir {ctx.state_dir} is not a folder")
    stored: dict[str, str | None] = {}
    for name in names:
        record = kept.get(name)
        stored[name] = None if record is None else record.digest
        if record is not None:
            _write(ctx.state_dir / name, record.content, replace=not read_only, stack=stack)
    return Carried(
        repository=shared.repository, stack=stack, state_dir=ctx.state_dir, stored=stored, read_only=read_only
    )


def put_back(rt: runtime.Runtime, carried: Carried | None) -> tuple[str, ...]:
    """Keep in the store each shared file the operation changed (delete one it removed);
    the names written. Nothing for None or a preview."""
    if carried is None or carried.read_only:
        return ()
    changed: list[str] = []
    for name, before in carried.stored.items():
        content = _read(carried.state_dir / name, stack=carried.stack)
        if content is not None and filing.digest_of(content) == before:
            continue
        if content is None and before is None:
            continue
        try:
            if content is None:
                rt.store.delete_stack_file(repository=carried.repository, stack=carried.stack, name=name)
            else:
                rt.store.put_stack_file(
                    repository=carried.repository, stack=carried.stack, name=name, content=content
                )
        except (store_errors.StoreError, ValueError) as exc:
            raise SharedFileError(
                f"stack {carried.stack}: the operation ended, but its shared state file {name} could not "
                f"be kept in the store, so another replica would not see it: {exc}"
            ) from None
        changed.append(name)
    return tuple(changed)


@contextlib.contextmanager
def carried(
    rt: runtime.Runtime, ctx: protocol.StackContext, engine: object, *, read_only: bool = False
) -> Iterator[Carried | None]:
    """:func:`restore` before the block, :func:`put_back` after it, whatever happens.

    When the block raised, a failure to put back is logged and the block's exception
    goes on; otherwise it raises :class:`SharedFileError`.
    """
    done = restore(rt, ctx, engine, read_only=read_only)
    try:
        yield done
    except BaseException:
        try:
            put_back(rt, done)
        except SharedFileError as exc:
            log.warning("%s", exc)
        raise
    put_back(rt, done)


def local_files(
    where: layout.DataLayout, stacks: Iterable[records.StackRecord], *, engines: registry.EngineRegistry
) -> Iterator[tuple[str, str, str, bytes]]:
    """The shared files the state dirs under ``where`` hold for ``stacks``, one at a time,
    as ``(repository, stack, name, content)``. A stack of an engine that shares nothing (or
    is not installed) has none; :class:`SharedFileError` for a link or an oversized file."""
    for stack in stacks:
        try:
            names = shared_names(engines.get(stack.engine)) if stack.engine else ()
            filing.file_name(stack.name)  # a recorded name is a folder name here: nothing else
        except (protocol.EngineError, ValueError):
            continue
        folder = where.state(stack.name, repository=stack.repository)
        for name in names:
            content = _read(folder / name, stack=stack.name)
            if content is not None:
                yield stack.repository, stack.name, name, content


def _write(path: Path, content: bytes, *, replace: bool, stack: str) -> None:
    """Write ``content`` at ``path`` atomically (0600); only if it is absent unless ``replace``."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise SharedFileError(f"stack {stack}: cannot look at {path}: {exc.strerror}") from None
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise SharedFileError(f"stack {stack}: {path} is not a regular file (a link?): refused")
    if found is not None and not replace:
        return
    temporary = ""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        if replace:
            os.replace(temporary, path)  # replaces a link planted meanwhile, never follows it
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)  # never replaces: a file written meanwhile wins
    except OSError as exc:
        raise SharedFileError(f"stack {stack}: cannot write {path}: {exc.strerror}") from None
    finally:
        if temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _read(path: Path, *, stack: str) -> bytes | None:
    """The bytes of the regular file at ``path`` (never through a link), None if absent."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        handle = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SharedFileError(f"stack {stack}: {path} is a symbolic link: refused") from None
        raise SharedFileError(f"stack {stack}: cannot read {path}: {exc.strerror}") from None
    limit = filing.MAX_FILE_BYTES
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise SharedFileError(f"stack {stack}: {path} is not a regular file: refused")
        try:
            content = stream.read(limit + 1)
        except OSError as exc:
            raise SharedFileError(f"stack {stack}: cannot read {path}: {exc.strerror}") from None
    if len(content) > limit:
        raise SharedFileError(
            f"stack {stack}: {path.name} is larger than {limit // (1024 * 1024)} MiB, "
            "the most the store keeps of a shared file"
        )
    return content
