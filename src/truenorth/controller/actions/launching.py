"""Running an API action in the background and answering with its first run id.

An action (refresh, sync, approve, rollback) may run for minutes; the API answers
``202 Accepted`` with the id of the run it recorded first. :func:`launch` starts the
work as a task holding the stack's lease, waits until the work reports its first run
id (``executing`` calls back right after writing the run row, from a worker thread) or
fails before recording anything (then the caller gets the failure as a
:class:`ControllerError`), and lets the rest go on. Failures after that point are in the
recorded runs; they are only logged here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from truenorth.controller import errors
from truenorth.controller.loop import contexts, locks, operating
from truenorth.core import specs
from truenorth.git import errors as git_errors
from truenorth.store import errors as store_errors

__all__ = ["as_controller_error", "launch"]

log = logging.getLogger(__name__)


async def launch(
    ctx: contexts.Context,
    *,
    lease: locks.Lease,
    work: Callable[[operating.RunStarted], Awaitable[operating.Step]],
    tasks: set[asyncio.Task[Any]],
    after: Callable[[], None],
) -> int:
    """Run ``work`` holding ``lease`` in a task kept in ``tasks``; return its first run id.

    ``after`` runs when the work ends (success or not), on the event loop.
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future[int] = loop.create_future()

    def on_start(run_id: int) -> None:
        def deliver() -> None:
            if not started.done():
                started.set_result(run_id)

        loop.call_soon_threadsafe(deliver)

    activity = ctx.activity

    async def body() -> operating.Step | None:
        try:
            with lease:
                step = await work(on_start)
            fallback = step.plan_run_id or step.apply_run_id
            if not started.done() and fallback is not None:
                started.set_result(fallback)
            return step
        except Exception as exc:
            error = as_controller_error(ctx, exc)
            if not started.done():
                started.set_exception(error)
            else:
                log.warning("action on stack %s failed after its run started: %s", lease.key[1], error)
            return None
        finally:
            activity.actions -= 1
            activity.changed()
            after()

    activity.actions += 1
    task = asyncio.create_task(body())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    waiting: list[asyncio.Future[Any]] = [started, task]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        await asyncio.sleep(0)  # a run id delivered from a thread may still be queued
    if not started.done():
        raise errors.ControllerError(errors.UNAVAILABLE, "the operation ended without recording a run")
    return started.result()


def as_controller_error(ctx: contexts.Context, exc: Exception) -> errors.ControllerError:
    """What the caller of an action is told about ``exc`` (redacted)."""
    if isinstance(exc, errors.ControllerError):
        return exc
    if isinstance(exc, store_errors.StoreError):
        ctx.store_health.failed(ctx.redact(str(exc)))
        ctx.metrics.store_errors.inc()
        return errors.ControllerError(errors.UNAVAILABLE, ctx.redact(f"the store is failing: {exc}"))
    if isinstance(exc, specs.SpecError):  # never a bare KeyError: from anywhere else, that is a bug
        return errors.ControllerError(errors.INVALID, ctx.redact(f"that revision cannot be used: {exc}"))
    if isinstance(exc, git_errors.GitError):
        return errors.ControllerError(errors.UNAVAILABLE, ctx.redact(f"git failed: {exc}"))
    log.error("action failed unexpectedly", exc_info=exc)
    return errors.ControllerError(errors.UNAVAILABLE, f"internal error: {type(exc).__name__}")
