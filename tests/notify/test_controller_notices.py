"""What the controller's events become as notices (:mod:`truenorth.controller.loop.notifying`).

No delivery happens here: the notices are read from the notifier's records right after
they are queued, and the queue is cancelled before anything is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from truenorth.controller.loop import notifying
from truenorth.controller.runs import executing, sources
from truenorth.core import guards, plans, runs, specs, states
from truenorth.git import commits
from truenorth.notify import delivering, subscriptions

AT = datetime(2025, 1, 2, tzinfo=UTC)
SHA = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"
STACK = specs.parse_spec("stacks:\n  - {name: web, engine: kubernetes, path: k8s, target: demo}\n").stack(
    "web"
)
REVISION = sources.Revision(
    url="file:///repo",
    shown_url="file:///repo",
    key="file:///repo#main",
    ref="main",
    sha=SHA,
    commit=commits.Commit(sha=SHA, author_name="Ada", author_email="a@x", date=AT, subject="Scale web"),
    checkout=Path("/nonexistent"),
)


def notices() -> tuple[notifying.Notifications, delivering.Notifier]:
    settings = subscriptions.NotificationSettings(
        subscriptions=(subscriptions.Subscription(name="chat", urls=("json://127.0.0.1:9/",)),)
    )
    notifier = delivering.Notifier(settings)
    return notifying.Notifications(notifier, names={REVISION.key: "infra"}, clock=lambda: AT), notifier


def outcome(
    *, plan: plans.Plan | None, status: runs.RunStatus = runs.RunStatus.SUCCEEDED, **extra: object
) -> executing.Outcome:
    result = runs.RunResult(
        stack="web",
        kind=runs.RunKind.PLAN,
        status=status,
        revision=SHA,
        started_at=AT,
        finished_at=AT,
        error="" if plan is not None else "kubectl: boom",
        health=extra.pop("health", None),  # type: ignore[arg-type]
    )
    return executing.Outcome(run_id=3, result=result, plan=plan, **extra)  # type: ignore[arg-type]


def plan(*, health: states.Health | None = None) -> plans.Plan:
    return plans.Plan(
        stack="web", engine="kubernetes", revision=SHA, changes=(), summary=plans.PlanSummary(), health=health
    )


async def test_plan_failures_holds_and_degraded_health_are_announced() -> None:
    found, notifier = notices()
    found.plan_finished(REVISION, STACK, outcome(plan=None))
    found.plan_finished(REVISION, STACK, outcome(plan=plan(), decision=guards.Decision.HOLD))
    found.plan_finished(REVISION, STACK, outcome(plan=plan(health=states.Health.PROGRESSING)))
    found.apply_finished(REVISION, STACK, outcome(plan=plan(), health=states.Health.DEGRADED))
    found.apply_finished(REVISION, STACK, outcome(plan=plan(), health=states.Health.DEGRADED))  # no change
    found.plan_finished(REVISION, STACK, outcome(plan=plan()), kind=runs.RunKind.DRIFT)
    found.source_failed("infra", "git failed: timeout")
    found.source_failed("infra", "git failed: timeout")  # still failing: once
    found.source_works("infra")
    found.source_failed("infra", "git failed again")
    records = list(reversed(notifier.records()))
    await notifier.close()
    assert [(r.event.value, r.stack) for r in records] == [
        ("sync-failed", "web"),
        ("approval-required", "web"),
        ("sync-succeeded", "web"),
        ("health-degraded", "web"),
        ("sync-succeeded", "web"),
        ("source-error", None),
        ("source-error", None),
    ]
    assert all(r.repository == "infra" for r in records)
    assert records[0].revision == SHA


async def test_without_subscriptions_nothing_is_built() -> None:
    found = notifying.Notifications(delivering.Notifier(subscriptions.NotificationSettings()))
    assert not found.enabled
    found.plan_finished(REVISION, STACK, outcome(plan=None))  # returns at once
    await found.close()
