"""``truenorth store migrate``: move a data dir's SQLite store into PostgreSQL, once.

The copy itself is the store's (:mod:`truenorth.store.copying`); this module holds the
data dir while it copies, shared like every local command, so that it refuses while a
controller runs there (a controller writing during the copy would lose those writes),
and turns store failures into :class:`~truenorth.controller.errors.ControllerError` for
the CLI, which never imports the store. The shared engine state files its state dirs
hold (the Kubernetes inventories, :mod:`truenorth.controller.runs.carrying`) are copied
too, in the same transaction: replicas on new data dirs then prune what it applied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from truenorth.controller import errors
from truenorth.controller.runs import carrying, layout, ownership, registry
from truenorth.store import copying, urls
from truenorth.store import errors as store_errors

__all__ = ["migrate_store"]


def migrate_store(
    *,
    data_dir: Path,
    target_url: str,
    source_url: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Copy the store of ``data_dir`` (or ``source_url``) into the empty ``target_url``.

    Returns the rows copied per table. ``ControllerError`` (``invalid``) when the target
    is not PostgreSQL, (``conflict``) while a controller holds the data dir or the target
    is not empty, (``unavailable``) when a database cannot be used.
    """
    try:
        parsed = urls.database_url(target_url)
    except store_errors.StoreError as exc:
        raise errors.ControllerError(errors.INVALID, str(exc)) from None
    if parsed.get_backend_name() != "postgresql":
        raise errors.ControllerError(
            errors.INVALID, "store migrate copies into PostgreSQL: --to must be a postgresql:// URL"
        )
    source = source_url or urls.sqlite_url(data_dir)
    try:
        with ownership.share(data_dir, command="truenorth store migrate"), errors.store_unavailable():
            where, engines = layout.DataLayout.at(data_dir), registry.EngineRegistry()
            copied = copying.copy_store(
                source,
                target_url,
                progress=progress,
                files=lambda stacks: carrying.local_files(where, stacks, engines=engines),
            )
    except ownership.DataDirBusy as exc:
        raise errors.ControllerError(errors.CONFLICT, str(exc)) from None
    except (carrying.SharedFileError, ValueError) as exc:  # a link, an oversized file: nothing copied
        raise errors.ControllerError(errors.INVALID, f"nothing was copied: {exc}") from None
    return copied.counts
