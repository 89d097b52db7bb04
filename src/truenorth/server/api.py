"""The REST API under ``/api/v1``: read stacks, runs and logs; refresh, sync, approve, roll back.

Reads need the ``viewer`` role; refresh, sync and approve need ``operator``; rollback
needs ``admin`` (it deliberately deploys something other than what Git says). Actions
answer 202 with the id of the run they queued; the caller follows it at
``/runs/{id}`` and ``/runs/{id}/log``. The actor recorded with a run is the token's
configured name. Controller errors map by kind: not_found 404, conflict 409, invalid
422, unavailable 503 (the store failing among them: the server never sees the store).

Reads are plain ``def`` endpoints: FastAPI runs them in its thread pool, so a store query
never holds up the event loop, and each asks the controller for one page of views.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from truenorth.controller import errors as controller_errors
from truenorth.controller.actions import views
from truenorth.core import ids, runs
from truenorth.server import auth, ports, presenting, schemas

__all__ = [
    "ERROR_RESPONSES",
    "ERROR_STATUS",
    "Limit",
    "Offset",
    "RepoFilter",
    "Sort",
    "router",
    "translated",
    "within_bytes",
]

#: HTTP status per ``ControllerError.kind``.
ERROR_STATUS = {
    controller_errors.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    controller_errors.CONFLICT: status.HTTP_409_CONFLICT,
    controller_errors.INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
    controller_errors.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": schemas.Error, "description": "Missing, malformed or unknown token."},
    403: {"model": schemas.Error, "description": "The token's role is too low."},
}
#: The errors every authenticated route may answer (for OpenAPI).
ERROR_RESPONSES = _ERRORS
_ACTION_ERRORS: dict[int | str, dict[str, object]] = {
    **_ERRORS,
    404: {"model": schemas.Error, "description": "No such stack."},
    409: {"model": schemas.Error, "description": "Another operation runs, or no usable plan."},
    422: {"model": schemas.Error, "description": "Invalid request."},
    503: {"model": schemas.Error, "description": "The controller cannot do it right now."},
}

StackName = Annotated[str, Path(min_length=1, max_length=200, description="The stack's name.")]
RepoFilter = Annotated[
    str | None, Query(max_length=200, description="Repository name (needed when names repeat).")
]
Limit = Annotated[int, Query(ge=1, le=500)]
Sort = Annotated[
    Literal["name", "state"] | None,
    Query(description="name, or state (failed, pending approval, out of sync first); default: as declared."),
]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def router(controller: ports.ControllerPort) -> APIRouter:
    """Every ``/api/v1`` route except the webhooks, bound to ``controller``."""
    api = APIRouter()

    @api.get("/repositories", response_model=schemas.RepositoryList, responses=_ERRORS, tags=["read"])
    def list_repositories(_caller: auth.Viewer) -> schemas.RepositoryList:
        """Tracked repositories: newest revision seen, source errors, last check and fetch."""
        with translated():
            return schemas.RepositoryList(items=[presenting.repository(r) for r in controller.repositories()])

    @api.get("/stacks", response_model=schemas.StackPage, responses=_ERRORS, tags=["read"])
    def list_stacks(
        *,
        _caller: auth.Viewer,
        repository: RepoFilter = None,
        engine: Annotated[str | None, Query(max_length=50)] = None,
        sync_state: Annotated[str | None, Query(max_length=50)] = None,
        health: Annotated[str | None, Query(max_length=50)] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="Name contains (case-insensitive).")
        ] = None,
        sort: Sort = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> schemas.StackPage:
        """Every stack with its sync state, health, drift and applied revision; filtered and paged.

        ``source_errors`` lists the repositories whose source is in error, so that a refused
        ``truenorth.yaml`` shows here even before the repository has a stack.
        """
        query = views.StackQuery(
            repository=repository,
            engine=engine,
            sync_state=sync_state,
            health=health,
            name_contains=q,
            offset=offset,
            limit=limit,
            sort=sort,
        )
        with translated():
            page = controller.stack_page(query)
        return presenting.stack_page(page, limit=limit, offset=offset)

    @api.get("/counts", response_model=schemas.Counts, responses=_ERRORS, tags=["read"])
    def count_stacks(_caller: auth.Viewer) -> schemas.Counts:
        """How many stacks there are in each sync state and health (one short query)."""
        with translated():
            return presenting.counts(controller.state_counts())

    @api.get("/stacks/{name}", response_model=schemas.StackDetail, responses=_ACTION_ERRORS, tags=["read"])
    def get_stack(
        _caller: auth.Viewer, name: StackName, repository: RepoFilter = None
    ) -> schemas.StackDetail:
        """One stack, with the inputs its current plan used and its recorded outputs (sensitive masked)."""
        with translated():
            return presenting.stack_detail(controller.stack(name, repository=repository))

    @api.get(
        "/stacks/{name}/outputs", response_model=schemas.StackOutputs, responses=_ACTION_ERRORS, tags=["read"]
    )
    def get_stack_outputs(
        _caller: auth.Viewer, name: StackName, repository: RepoFilter = None
    ) -> schemas.StackOutputs:
        """The outputs the stack's last successful apply recorded; a sensitive value is never shown."""
        with translated():
            return presenting.stack_outputs(controller.stack_outputs(name, repository=repository))

    @api.get("/stacks/{name}/plan", response_model=schemas.PlanOut, responses=_ACTION_ERRORS, tags=["read"])
    def get_plan(_caller: auth.Viewer, name: StackName, repository: RepoFilter = None) -> schemas.PlanOut:
        """The stack's current plan (pending approval, or the latest): summary and changes."""
        with translated():
            found = controller.current_plan(name, repository=repository)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan recorded for stack {name!r}")
        return presenting.plan(found)

    @api.get("/stacks/{name}/runs", response_model=schemas.RunPage, responses=_ACTION_ERRORS, tags=["read"])
    def list_stack_runs(
        _caller: auth.Viewer,
        name: StackName,
        repository: RepoFilter = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> schemas.RunPage:
        """The stack's runs, newest first."""
        with translated():
            found = controller.stack_runs(name, repository=repository, offset=offset, limit=limit)
        items = [presenting.run(r) for r in found.items]
        return schemas.RunPage(items=items, total=found.total, limit=limit, offset=offset)

    @api.get("/runs", response_model=schemas.RunPage, responses=_ERRORS, tags=["read"])
    def list_runs(
        *,
        _caller: auth.Viewer,
        stack: Annotated[str | None, Query(max_length=200)] = None,
        repository: RepoFilter = None,
        kind: Annotated[runs.RunKind | None, Query()] = None,
        status_: Annotated[runs.RunStatus | None, Query(alias="status")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> schemas.RunPage:
        """Every run, newest first, optionally of one stack, repository, kind or status."""
        query = views.RunQuery(
            stack=stack, repository=repository, kind=kind, status=status_, offset=offset, limit=limit
        )
        with translated():
            found = controller.runs(query)
        items = [presenting.run(r) for r in found.items]
        return schemas.RunPage(items=items, total=found.total, limit=limit, offset=offset)

    @api.get("/runs/{run_id}", response_model=schemas.RunDetail, responses=_ACTION_ERRORS, tags=["read"])
    def get_run(_caller: auth.Viewer, run_id: Annotated[int, Path(ge=1)]) -> schemas.RunDetail:
        """One run with its changes, per-host results and output."""
        with translated():
            found = controller.run(ids.RunId(run_id))
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
        return presenting.run_detail(found)

    @api.get("/runs/{run_id}/log", response_model=schemas.RunLog, responses=_ACTION_ERRORS, tags=["read"])
    def get_run_log(
        _caller: auth.Viewer,
        run_id: Annotated[int, Path(ge=1)],
        after: Annotated[int, Query(ge=0, description="Only lines numbered after this.")] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> schemas.RunLog:
        """The run's output lines, for following it live: read again with ``?after=next_after``.

        A page holds at most ``limit`` lines and about 1 MiB of text (at least one line), so
        that encoding the answer, which happens on the event loop, stays short.
        """
        with translated():
            page = controller.run_log(ids.RunId(run_id), after=after, limit=limit)
        if page is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
        lines = within_bytes(page.lines)
        return schemas.RunLog(
            run_id=run_id,
            lines=presenting.log_lines(lines),
            next_after=lines[-1][0] if lines else after,
            finished=page.finished,
        )

    @api.post(
        "/stacks/{name}/refresh",
        status_code=202,
        response_model=schemas.Accepted,
        responses=_ACTION_ERRORS,
        tags=["actions"],
    )
    async def refresh(
        caller: auth.Operator, name: StackName, repository: RepoFilter = None
    ) -> schemas.Accepted:
        """Plan the stack again now (operator)."""
        with translated():
            return schemas.Accepted(
                run_id=await controller.refresh(name, repository=repository, actor=caller.name)
            )

    @api.post(
        "/stacks/{name}/sync",
        status_code=202,
        response_model=schemas.Accepted,
        responses=_ACTION_ERRORS,
        tags=["actions"],
    )
    async def sync(caller: auth.Operator, name: StackName, repository: RepoFilter = None) -> schemas.Accepted:
        """Apply the stack's stored plan (operator); 409 when there is none or it is stale."""
        with translated():
            return schemas.Accepted(
                run_id=await controller.sync(name, repository=repository, actor=caller.name)
            )

    @api.post(
        "/stacks/{name}/approve",
        status_code=202,
        response_model=schemas.Accepted,
        responses=_ACTION_ERRORS,
        tags=["actions"],
    )
    async def approve(
        caller: auth.Operator, name: StackName, repository: RepoFilter = None
    ) -> schemas.Accepted:
        """Apply a plan held for approval (operator)."""
        with translated():
            return schemas.Accepted(
                run_id=await controller.approve(name, repository=repository, actor=caller.name)
            )

    @api.post(
        "/stacks/{name}/rollback",
        status_code=202,
        response_model=schemas.Accepted,
        responses=_ACTION_ERRORS,
        tags=["actions"],
    )
    async def rollback(
        caller: auth.Admin, name: StackName, body: schemas.RollbackRequest, repository: RepoFilter = None
    ) -> schemas.Accepted:
        """Deploy an earlier applied revision of the stack (admin); who and why are recorded."""
        reason = body.reason.strip()
        if not reason:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "reason: must not be blank")
        with translated():
            run_id = await controller.rollback(
                name, revision=body.revision.lower(), repository=repository, actor=caller.name, reason=reason
            )
        return schemas.Accepted(run_id=run_id)

    return api


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn controller errors raised in the block into HTTP errors (the store's reach us as ``unavailable``)."""
    try:
        yield
    except controller_errors.ControllerError as exc:
        raise HTTPException(ERROR_STATUS.get(exc.kind, 500), exc.message) from None


#: The text one log page carries at most (see ``get_run_log``).
_LOG_PAGE_BYTES = 1 << 20


def within_bytes(lines: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """The first lines of ``lines`` that fit in :data:`_LOG_PAGE_BYTES` (at least one)."""
    kept: list[tuple[int, str]] = []
    size = 0
    for seq, line in lines:
        size += len(line) + 16
        if kept and size > _LOG_PAGE_BYTES:
            break
        kept.append((seq, line))
    return kept
