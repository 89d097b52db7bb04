"""From the controller's views to the API's JSON models.

The one place that decides what of a view is shown. Plan summaries are filtered
through an allow-list of counters, so that private fields stored next to them (the
plan artifact's path, the fingerprint of the inputs) or anything added there later
never reach a client by accident. Views hold datetimes and enums; the JSON spells them
here and in :mod:`.schemas` (a stack's last run and applied commit keep their times as
ISO 8601 text with an offset, as they always have).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from truenorth.controller.actions import views
from truenorth.core import outputs, plans, states
from truenorth.server import schemas

__all__ = [
    "SUMMARY_KEYS",
    "counts",
    "log_lines",
    "plan",
    "plan_inputs",
    "repository",
    "run",
    "run_detail",
    "source_errors",
    "stack",
    "stack_page",
    "summary",
]

#: The plan summary fields shown to clients.
SUMMARY_KEYS = frozenset(plans.PlanSummary().to_dict()) | {"has_changes", "unreachable_hosts"}


def summary(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The shown part of a recorded run summary."""
    return {key: value for key, value in (stored or {}).items() if key in SUMMARY_KEYS}


def repository(view: views.RepositoryView) -> schemas.Repository:
    return schemas.Repository(
        name=view.name,
        url=view.url,
        branch=view.branch,
        revision=view.revision,
        valid_revision=view.valid_revision,
        source_error=view.source_error,
        last_fetch_at=view.last_fetch_at,
        last_check_at=view.last_check_at,
    )


def source_errors(found: Iterable[views.SourceError]) -> list[schemas.SourceError]:
    return [schemas.SourceError(repository=item.repository, source_error=item.error) for item in found]


def stack(view: views.StackView) -> schemas.Stack:
    last = view.last_run
    return schemas.Stack(
        repository=view.repository,
        name=view.name,
        engine=view.engine,
        sync_state=view.sync_state.value,
        health=view.health.value,
        drift=view.drift,
        auto_apply=view.auto_apply,
        self_heal=view.self_heal,
        depends_on=list(view.depends_on),
        applied_revision=view.applied_revision,
        applied_commit=_commit(view.applied_commit),
        applied_at=view.applied_at,
        desired_revision=view.desired_revision,
        desired_commit=_commit(view.desired_commit),
        last_run=schemas.RunRef(
            id=last.id,
            kind=last.kind.value,
            status=last.status.value,
            started_at=_text(last.started_at),
            finished_at=_text(last.finished_at),
        )
        if last is not None
        else None,
        pending_plan_run_id=view.pending_plan_run_id,
        busy=view.busy,
        error=view.error,
        source_error=view.source_error,
    )


def stack_page(page: views.StackPage, *, limit: int, offset: int) -> schemas.StackPage:
    return schemas.StackPage(
        items=[stack(s) for s in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
        source_errors=source_errors(page.source_errors),
    )


def counts(found: Mapping[tuple[states.SyncState, states.Health], int]) -> schemas.Counts:
    """Stacks per sync state and per health, every state named (0 when none)."""
    by_sync = dict.fromkeys((s.value for s in states.SyncState), 0)
    by_health = dict.fromkeys((h.value for h in states.Health), 0)
    for (sync_state, health), number in found.items():
        by_sync[sync_state.value] = by_sync.get(sync_state.value, 0) + number
        by_health[health.value] = by_health.get(health.value, 0) + number
    return schemas.Counts(total=sum(found.values()), sync_state=by_sync, health=by_health)


def stack_detail(view: views.StackView) -> schemas.StackDetail:
    """One stack with its inputs and outputs (already masked by the views)."""
    return schemas.StackDetail(
        **stack(view).model_dump(),
        inputs=[
            schemas.StackInput(
                name=item.name,
                source=item.source,
                known=item.known,
                sensitive=item.sensitive,
                value=outputs.MASK if item.sensitive else item.value,
                shown=item.shown,
            )
            for item in view.inputs
        ],
        outputs=[_output(item) for item in view.outputs],
        dependents=list(view.dependents),
    )


def stack_outputs(view: views.OutputsView) -> schemas.StackOutputs:
    return schemas.StackOutputs(
        repository=view.repository, stack=view.stack, outputs=[_output(item) for item in view.items]
    )


def _output(item: views.OutputView) -> schemas.StackOutput:
    return schemas.StackOutput(
        name=item.name,
        value=outputs.MASK if item.sensitive else item.value,
        sensitive=item.sensitive,
        revision=item.revision,
    )


def plan_inputs(stored: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The inputs a plan run recorded, as shown: sensitive values masked (they were when stored)."""
    shown = []
    for item in (stored or {}).get("inputs") or ():
        if not isinstance(item, Mapping):
            continue
        sensitive = bool(item.get("sensitive", False))
        shown.append(
            {
                "name": item.get("name"),
                "source": item.get("source"),
                "known": bool(item.get("known", True)),
                "sensitive": sensitive,
                "value": outputs.MASK if sensitive else item.get("value"),
                "digest": item.get("digest", ""),
            }
        )
    return shown


def run(view: views.RunView) -> schemas.Run:
    return schemas.Run(**_run_fields(view))


def run_detail(view: views.RunDetail) -> schemas.RunDetail:
    return schemas.RunDetail(
        **_run_fields(view),
        changes=list(view.changes),
        hosts=list(view.hosts),
        output=view.output,
    )


def plan(view: views.RunDetail) -> schemas.PlanOut:
    return schemas.PlanOut(
        run_id=view.id,
        stack=view.stack,
        repository=view.repository,
        revision=view.revision,
        status=view.status.value,
        started_at=view.started_at,
        finished_at=view.finished_at,
        summary=summary(view.summary),
        changes=list(view.changes),
        error=view.error,
        inputs=plan_inputs(view.summary),
    )


def log_lines(lines: Iterable[tuple[int, str]]) -> list[schemas.LogLine]:
    return [schemas.LogLine(seq=seq, line=line) for seq, line in lines]


def _run_fields(view: views.RunView) -> dict[str, Any]:
    return {
        "id": view.id,
        "stack": view.stack,
        "repository": view.repository,
        "revision": view.revision,
        "kind": view.kind.value,
        "status": view.status.value,
        "started_at": view.started_at,
        "finished_at": view.finished_at,
        "summary": summary(view.summary),
        "error": view.error,
        "actor": view.actor,
        "reason": view.reason,
        "plan_id": view.plan_id,
    }


def _commit(view: views.CommitView | None) -> schemas.Commit | None:
    if view is None:
        return None
    return schemas.Commit(sha=view.sha, author=view.author, date=_text(view.date), subject=view.subject)


def _text(value: datetime | None) -> str | None:
    """A time as the stack's ``last_run`` and ``applied_commit`` show it: ISO 8601 with an offset."""
    return None if value is None else value.isoformat()
