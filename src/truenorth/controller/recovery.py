"""Crash recovery at start-up: whatever was in flight died with the previous process.

A controller killed mid-apply (SIGKILL, OOM, power loss) leaves runs ``running`` and
stacks ``applying``. Before anything else runs, :func:`recover` ends those runs as
``interrupted`` (``store.mark_interrupted``), puts their stacks back to ``unknown`` with
an error that names the run (their real state is whatever the engine got to), and
returns them so that the controller re-plans each one before trusting it again. Stack
locks are in-process and died with the process, so there is nothing else to release.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from truenorth.controller import executing
from truenorth.store import database

__all__ = ["Interrupted", "recover"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interrupted:
    """A stack whose operation the previous process did not finish."""

    repository: str
    stack: str
    run_ids: tuple[int, ...]


def recover(store: database.Store) -> list[Interrupted]:
    """Mark in-flight runs interrupted, reset ``applying`` stacks; return the stacks to re-plan."""
    marked = store.mark_interrupted()
    found: dict[tuple[str, str], list[int]] = {}
    for run_id in marked:
        run = store.get_run(run_id)
        if run is not None and run.stack != executing.REPOSITORY_STACK:
            found.setdefault((run.repository, run.stack), []).append(run_id)
    for record in store.list_stacks():
        if record.sync_state == "applying":
            found.setdefault((record.repository, record.name), [])
    result = []
    for (repository, stack), run_ids in sorted(found.items()):
        current = store.get_stack(repository=repository, name=stack)
        if current is not None and current.sync_state == "applying":
            which = f"run {', '.join(map(str, run_ids))}" if run_ids else "an apply"
            store.upsert_stack(
                repository=repository,
                name=stack,
                sync_state="unknown",
                health="Unknown",
                error=f"{which} was interrupted when the controller stopped; planning again",
            )
        result.append(Interrupted(repository=repository, stack=stack, run_ids=tuple(run_ids)))
        log.warning(
            "stack %s of %s: interrupted runs %s; it will be planned again", stack, repository, run_ids
        )
    return result
