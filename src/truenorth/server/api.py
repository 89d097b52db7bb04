"""The REST API under ``/api/v1``: read stacks, runs and logs; refresh, sync, approve, roll back.

Reads need the ``viewer`` role; refresh, sync and approve need ``operator``; rollback
needs ``admin`` (it deliberately deploys something other than what Git says). Actions
answer 202 with the id of the run they queued; the caller follows it at
``/runs/{id}`` and ``/runs/{id}/log``. The actor recorded with a run is the token's
configured name. Controller errors map by kind: not_found 404, conflict 409, invalid
422, unavailable 503.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from truenorth.controller import errors as controller_errors
from truenorth.controller.actions import views
from truenorth.server import auth, ports, presenting, schemas
from truenorth.store import errors as store_errors

__all__ = ["ERROR_STATUS", "router", "translated"]

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
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def router(controller: ports.ControllerPort) -> APIRouter:
    """Every ``/api/v1`` route except the webhooks, bound to ``controller``."""
    api = APIRouter()

    def store_keys() -> dict[str, str]:
        """Repository name by the key its runs are stored under."""
        with translated():
            return {(r.store_key or r.name): r.name for r in controller.repositories()}

    def one_stack(name: str, repository: str | None) -> views.StackView:
        with translated():
            return controller.stack(name, repository=repository)

    def store_key(view: views.StackView) -> str:
        for key, name in store_keys().items():
            if name == view.repository:
                return key
        return view.repository

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
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> schemas.StackPage:
        """Every stack with its sync state, health, drift and applied revision; filtered and paged.

        ``source_errors`` lists the repositories whose source is in error, so that a refused
        ``truenorth.yaml`` shows here even before the repository has a stack.
        """
        with translated():
            found = [
                s
                for s in controller.stacks()
                if (repository is None or s.repository == repository)
                and (engine is None or s.engine == engine)
                and (sync_state is None or s.sync_state == sync_state)
                and (health is None or s.health.lower() == health.lower())
                and (q is None or q.lower() in s.name.lower())
            ]
            broken = [r for r in controller.repositories() if repository is None or r.name == repository]
        page = found[offset : offset + limit]
        return schemas.StackPage(
            items=[presenting.stack(s) for s in page],
            total=len(found),
            limit=limit,
            offset=offset,
            source_errors=presenting.source_errors(broken),
        )

    @api.get("/stacks/{name}", response_model=schemas.Stack, responses=_ACTION_ERRORS, tags=["read"])
    def get_stack(_caller: auth.Viewer, name: StackName, repository: RepoFilter = None) -> schemas.Stack:
        """One stack."""
        return presenting.stack(one_stack(name, repository))

    @api.get("/stacks/{name}/plan", response_model=schemas.PlanOut, responses=_ACTION_ERRORS, tags=["read"])
    def get_plan(_caller: auth.Viewer, name: StackName, repository: RepoFilter = None) -> schemas.PlanOut:
        """The stack's current plan (pending approval, or the latest): summary and changes."""
        view = one_stack(name, repository)
        with translated():
            record = controller.current_plan(name, repository=repository)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan recorded for stack {name!r}")
        return presenting.plan(record).model_copy(update={"repository": view.repository})

    @api.get("/stacks/{name}/runs", response_model=schemas.RunPage, responses=_ACTION_ERRORS, tags=["read"])
    def list_stack_runs(
        _caller: auth.Viewer,
        name: StackName,
        repository: RepoFilter = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> schemas.RunPage:
        """The stack's runs, newest first."""
        view = one_stack(name, repository)
        key = store_key(view)
        with translated():
            found = controller.store.list_runs(stack=view.name, repository=key, limit=limit, offset=offset)
            total = controller.store.count_runs(stack=view.name, repository=key)
        items = [presenting.run(r).model_copy(update={"repository": view.repository}) for r in found]
        return schemas.RunPage(items=items, total=total, limit=limit, offset=offset)

    @api.get("/runs", response_model=schemas.RunPage, responses=_ERRORS, tags=["read"])
    def list_runs(
        *,
        _caller: auth.Viewer,
        stack: Annotated[str | None, Query(max_length=200)] = None,
        repository: RepoFilter = None,
        kind: Annotated[str | None, Query(pattern="^(plan|apply|drift)$")] = None,
        status_: Annotated[str | None, Query(alias="status", max_length=50)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> schemas.RunPage:
        """Every run, newest first, optionally of one stack, repository, kind or status."""
        keys = store_keys()
        key = None
        if repository is not None:
            key = next((k for k, n in keys.items() if n == repository), None)
            if key is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no repository named {repository!r}")
        with translated():
            found = controller.store.list_runs(
                stack=stack, repository=key, kind=kind, status=status_, limit=limit, offset=offset
            )
            total = controller.store.count_runs(stack=stack, repository=key, kind=kind, status=status_)
        items = [
            presenting.run(r).model_copy(update={"repository": keys.get(r.repository, r.repository)})
            for r in found
        ]
        return schemas.RunPage(items=items, total=total, limit=limit, offset=offset)

    @api.get("/runs/{run_id}", response_model=schemas.RunDetail, responses=_ACTION_ERRORS, tags=["read"])
    def get_run(_caller: auth.Viewer, run_id: Annotated[int, Path(ge=1)]) -> schemas.RunDetail:
        """One run with its changes, per-host results and output."""
        with translated():
            record = controller.store.get_run(run_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
        name = store_keys().get(record.repository, record.repository)
        return presenting.run_detail(record).model_copy(update={"repository": name})

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
            record = controller.store.get_run(run_id)
            if record is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
            lines = _within_bytes(controller.store.read_log(run_id, after_seq=after, limit=limit))
        return schemas.RunLog(
            run_id=run_id,
            lines=[schemas.LogLine(seq=seq, line=line) for seq, line in lines],
            next_after=lines[-1][0] if lines else after,
            finished=record.finished,
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
    """Turn controller and store errors raised in the block into HTTP errors."""
    try:
        yield
    except controller_errors.ControllerError as exc:
        raise HTTPException(ERROR_STATUS.get(exc.kind, 500), exc.message) from None
    except store_errors.StoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"state database: {exc}") from None


#: The text one log page carries at most (see ``get_run_log``).
_LOG_PAGE_BYTES = 1 << 20


def _within_bytes(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The first lines of ``lines`` that fit in :data:`_LOG_PAGE_BYTES` (at least one)."""
    kept: list[tuple[int, str]] = []
    size = 0
    for seq, line in lines:
        size += len(line) + 16
        if kept and size > _LOG_PAGE_BYTES:
            break
        kept.append((seq, line))
    return kept
