"""From the controller's views and the store's records to the API's JSON models.

The one place that decides what of a record is shown. Plan summaries are filtered
through an allow-list of counters, so that private fields stored next to them (the
plan artifact's path, the fingerprint of the inputs) or anything added there later
never reach a client by accident.
"""

from __future__ import annotations

from typing import Any

from truenorth.controller.actions import views
from truenorth.core import plans
from truenorth.server import schemas
from truenorth.store import records

__all__ = ["SUMMARY_KEYS", "plan", "repository", "run", "run_detail", "source_errors", "stack", "summary"]

#: The plan summary fields shown to clients.
SUMMARY_KEYS = frozenset(plans.PlanSummary().to_dict()) | {"has_changes", "unreachable_hosts"}


def summary(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The shown part of a stored run summary."""
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


def source_errors(found: list[views.RepositoryView]) -> list[schemas.SourceError]:
    """The repositories of ``found`` whose source is in error."""
    return [
        schemas.SourceError(repository=view.name, source_error=view.source_error)
        for view in found
        if view.source_error
    ]


def stack(view: views.StackView) -> schemas.Stack:
    commit = view.applied_commit
    last = view.last_run
    return schemas.Stack(
        repository=view.repository,
        name=view.name,
        engine=view.engine,
        sync_state=view.sync_state,
        health=view.health,
        drift=view.drift,
        auto_apply=view.auto_apply,
        self_heal=view.self_heal,
        depends_on=list(view.depends_on),
        applied_revision=view.applied_revision,
        applied_commit=schemas.Commit(
            sha=str(commit.get("sha", "")),
            author=_text(commit.get("author")),
            date=_text(commit.get("date")),
            subject=_text(commit.get("subject")),
        )
        if commit
        else None,
        applied_at=view.applied_at,
        desired_revision=view.desired_revision,
        last_run=schemas.RunRef(
            id=int(last["id"]),
            kind=str(last.get("kind", "")),
            status=str(last.get("status", "")),
            started_at=_text(last.get("started_at")),
            finished_at=_text(last.get("finished_at")),
        )
        if last
        else None,
        pending_plan_run_id=view.pending_plan_run_id,
        busy=view.busy,
        error=view.error,
        source_error=view.source_error,
    )


def run(record: records.RunRecord) -> schemas.Run:
    return schemas.Run(**_run_fields(record))


def run_detail(record: records.RunRecord) -> schemas.RunDetail:
    return schemas.RunDetail(
        **_run_fields(record),
        changes=list(record.changes),
        hosts=list(record.hosts),
        output=record.output,
    )


def plan(record: records.RunRecord) -> schemas.PlanOut:
    return schemas.PlanOut(
        run_id=record.id,
        stack=record.stack,
        repository=record.repository,
        revision=record.revision,
        status=record.status,
        started_at=record.started_at,
        finished_at=record.finished_at,
        summary=summary(record.summary),
        changes=list(record.changes),
        error=record.error,
    )


def _run_fields(record: records.RunRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "stack": record.stack,
        "repository": record.repository,
        "revision": record.revision,
        "kind": record.kind,
        "status": record.status,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "summary": summary(record.summary),
        "error": record.error,
        "actor": record.actor,
        "reason": record.reason,
        "plan_id": record.plan_id,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
