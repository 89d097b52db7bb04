"""The stable ``-o json`` documents of the CLI (``docs/output-json.md`` describes them).

Built only from recorded, redacted data. Fields are only ever added within a
``format_version``; anything else bumps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from truenorth.core import plans, runs
from truenorth.git import urls

if TYPE_CHECKING:  # the store, under it, is imported by the commands that use one
    from truenorth.controller.runs import executing

__all__ = ["FORMAT_VERSION", "drift_entry", "plan_document", "record_json", "run_json", "stack_json"]

FORMAT_VERSION = "1"

#: Summary fields shown in history; the stored record also holds private plan data
#: (the saved plan's path, its fingerprint, engine metadata).
_SHOWN_SUMMARY_KEYS = frozenset([*plans.PlanSummary().to_dict(), "has_changes", "unreachable_hosts"])


def plan_document(
    revision: Any, outcomes: list[executing.Outcome], *, engines: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``plan``/``apply`` document. ``engines`` (stack name -> engine) names the engine
    of a stack whose plan failed; every stack entry has the same fields in every state."""
    stacks = []
    for outcome in outcomes:
        entry: dict[str, Any] = {"name": outcome.result.stack, "run_id": outcome.run_id}
        if outcome.plan is None:
            result = outcome.result
            entry.update(
                status="failed",
                engine=(engines or {}).get(result.stack),
                error=result.error,
                has_changes=None,
                summary=None,
                # What a plan that failed part-way checked before failing (Ansible), else none.
                changes=[item.to_dict() for item in result.plan.changes] if result.plan else [],
                unreachable_hosts=sorted(
                    host.host for host in result.hosts if host.status is runs.HostStatus.UNREACHABLE
                ),
                inputs=[],
                waiting=False,
            )
        else:
            data = outcome.plan.to_dict()
            entry.update(
                status="planned",
                engine=data["engine"],
                error="",
                has_changes=data["has_changes"],
                summary=data["summary"],
                changes=data["changes"],
                unreachable_hosts=data["unreachable_hosts"],
                inputs=data["inputs"],
                waiting=bool(outcome.plan.waiting_for),
            )
        stacks.append(entry)
    plans_ = [o.plan for o in outcomes if o.plan is not None]
    return {
        "format_version": FORMAT_VERSION,
        "repository": revision.shown_url,
        "branch": urls.branch_of(revision.key),
        "ref": revision.ref,
        "revision": revision.sha,
        "commit": {
            "sha": revision.commit.sha,
            "author": revision.commit.author_name,
            "date": revision.commit.date.isoformat(),
            "subject": revision.commit.subject,
        },
        "stacks": stacks,
        "summary": {
            "add": sum(p.summary.add for p in plans_),
            "change": sum(p.summary.change for p in plans_),
            "destroy": sum(p.summary.destroy for p in plans_),
            "stacks_with_changes": sum(1 for p in plans_ if p.has_changes),
            "stacks_failed": sum(1 for o in outcomes if o.plan is None),
        },
    }


def drift_entry(
    name: str,
    *,
    engine: str,
    status: str,
    revision: str | None = None,
    run_id: int | None = None,
    error: str = "",
    plan: plans.Plan | None = None,
) -> dict[str, Any]:
    """One stack of the ``drift`` document, with the same fields whatever its status
    (``checked``, ``not-applied``, ``failed``): what is not known is null or empty."""
    return {
        "name": name,
        "engine": engine,
        "status": status,
        "revision": revision,
        "run_id": run_id,
        "error": error if plan is None else "",
        "drift": plan.has_drift if plan is not None else None,
        "summary": plan.summary.to_dict() if plan is not None else None,
        "changes": [item.to_dict() for item in plan.changed] if plan is not None else [],
    }


def run_json(outcome: executing.Outcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "run_id": outcome.run_id,
        "stack": result.stack,
        "status": result.status.value,
        "revision": result.revision,
        "error": result.error,
        "hosts": [host.to_dict() for host in result.hosts],
    }


def record_json(record: Any) -> dict[str, Any]:
    repository, branch = urls.split_key(record.repository)
    return {
        "id": record.id,
        "stack": record.stack,
        "repository": repository,
        "branch": branch,
        "revision": record.revision,
        "kind": record.kind,
        "status": record.status,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "summary": {k: v for k, v in (record.summary or {}).items() if k in _SHOWN_SUMMARY_KEYS},
        "error": record.error or "",
        "actor": record.actor,
        "reason": record.reason,
    }


def stack_json(item: Any) -> dict[str, Any]:
    repository, branch = urls.split_key(item.repository)
    return {
        "repository": repository,
        "branch": branch,
        "name": item.name,
        "engine": item.engine,
        "sync_state": item.sync_state,
        "health": item.health,
        "applied_revision": item.applied_revision,
        "applied_at": item.applied_at.isoformat() if item.applied_at else None,
        "error": item.error,
    }
