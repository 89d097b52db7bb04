"""Crash recovery at start-up: whatever was in flight died with the previous process.

A controller killed mid-apply (SIGKILL, OOM, power loss) leaves runs ``running`` and
stacks ``applying``. Before anything else runs, :func:`recover`:

1. picks the runs *this data dir's* previous processes left in flight, by their holder
   (``<instance id>/<host>:<pid>``, :mod:`.ownership`); runs other controllers or
   commands on a shared database are recording are left alone (runs recorded before
   holders named an instance count as this data dir's);
2. waits for any engine process such a run left behind (its record in the run's folder,
   :mod:`truenorth.engines.survivors`): Terraform was interrupted when the controller
   died and is saving its state and releasing its lock; planning the stack before it
   is done would fail on the lock, read a state about to change, and delete the
   working copy under it. If it is still running after ``wait`` seconds, its process
   group is stopped (SIGTERM, then SIGKILL);
3. ends those runs as ``interrupted`` (``store.mark_interrupted``), puts their
   ``applying`` stacks back to ``unknown`` (:func:`truenorth.core.states.after_interrupted`)
   with an error that names the run (their real state is whatever the engine got to),
   and returns them so that the controller re-plans each one before trusting it again.

Stack locks are in-process and died with the process; the data dir lock (held by this
controller now) and Terraform's state lock are released by the kernel and by Terraform.
See ``docs/architecture.md``, "Crash safety", for the guarantee this gives.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from truenorth.controller.runs import executing, ownership, runtime
from truenorth.core import states
from truenorth.engines import processes, survivors
from truenorth.store import records

__all__ = ["Interrupted", "recover"]

log = logging.getLogger(__name__)

#: Runs in flight at once are bounded by the worker pool; this is far above any.
_MAX_ACTIVE = 10_000


@dataclass(frozen=True)
class Interrupted:
    """A stack whose operation the previous process did not finish."""

    repository: str
    stack: str
    run_ids: tuple[int, ...]


def recover(rt: runtime.Runtime, *, wait: float = 3600.0) -> list[Interrupted]:
    """Wait for left-over engines, mark this data dir's in-flight runs interrupted, reset
    their ``applying`` stacks; return the stacks to re-plan."""
    store = rt.store
    instance = ownership.instance_of(rt.holder)
    active = store.list_runs(status=records.ACTIVE_STATUSES, limit=_MAX_ACTIVE)
    ours = [run for run in active if _ours(run.holder, instance)]
    busy_elsewhere = {(run.repository, run.stack) for run in active if not _ours(run.holder, instance)}
    for run in ours:
        _wait_for_engine(rt, run, wait=wait)
    marked = store.mark_interrupted(run_ids=[run.id for run in ours])
    found: dict[tuple[str, str], list[int]] = {}
    for run in ours:
        if run.id in marked and run.stack != executing.REPOSITORY_STACK:
            found.setdefault((run.repository, run.stack), []).append(run.id)
    for record in store.list_stacks():
        key = (record.repository, record.name)
        if (
            states.SyncState.parse(record.sync_state) is states.SyncState.APPLYING
            and key not in busy_elsewhere
        ):
            found.setdefault(key, [])
    result = []
    for (repository, stack), run_ids in sorted(found.items()):
        current = store.get_stack(repository=repository, name=stack)
        which = f"run {', '.join(map(str, run_ids))}" if run_ids else "an apply"
        transition = (
            states.after_interrupted(states.SyncState.parse(current.sync_state), what=which)
            if current is not None
            else None
        )
        if transition is not None:
            store.upsert_stack(repository=repository, name=stack, **transition.fields())
        result.append(Interrupted(repository=repository, stack=stack, run_ids=tuple(run_ids)))
        log.warning(
            "stack %s of %s: interrupted runs %s; it will be planned again", stack, repository, run_ids
        )
    return result


def _ours(holder: str | None, instance: str | None) -> bool:
    """Was the run recorded from this data dir (or before holders named their data dir)?"""
    if instance is None:
        return True  # a runtime without an instance id (tests): the old rule, every run
    recorded = ownership.instance_of(holder)
    return recorded is None or recorded == instance


def _wait_for_engine(rt: runtime.Runtime, run: records.RunRecord, *, wait: float) -> None:
    """Wait for the engine process ``run`` left running, if any (see the module docstring)."""
    path = rt.layout.run(run.id) / processes.RECORD_FILE
    left = survivors.read_record(path)
    if left is not None and survivors.is_running(left):
        log.warning(
            "run %d (%s of stack %s): %s is still running after the controller stopped; waiting for it",
            run.id,
            run.kind,
            run.stack,
            left.describe(),
        )
        started = time.monotonic()
        if survivors.wait_for_exit(left, timeout=wait):
            note = f"{left.describe()} was still running when the controller restarted; it ended"
        else:
            survivors.stop(left)
            note = (
                f"{left.describe()} was still running {wait:.0f}s after the controller restarted; stopped it"
            )
        log.warning("run %d: %s after %.1fs", run.id, note, time.monotonic() - started)
        rt.store.append_log(run.id, [note])
    path.unlink(missing_ok=True)
