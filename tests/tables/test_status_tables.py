"""Snapshots of the ``status`` and ``history`` tables as the CLI prints them.

``truenorth status --server URL`` and ``history --server URL`` print what the API
returns (:func:`truenorth.cli.remote.print_status`, :func:`~truenorth.cli.remote.print_history`);
the data below has the API's shape (``server/schemas.py``) with fixed times and
revisions, long errors (the tables wrap them, never cut them) and a name carrying a
terminal escape (printed visibly, never obeyed).
"""

from __future__ import annotations

from typing import Any

from tests.support import snapshots
from truenorth.cli import remote

REPOSITORY = "https://git.example.test/platform/infra.git#main"
APPLIED = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"
NEWER = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
LONG_ERROR = (
    "stack 'app': terraform plan failed: Error: Invalid reference on main.tf line 12, in resource "
    '"terraform_data" "app": A reference to a resource type must be followed by at least one '
    "attribute access, specifying the resource name."
)


def _stack(name: str, engine: str, sync_state: str, health: str, **extra: Any) -> dict[str, Any]:
    stack: dict[str, Any] = {
        "repository": REPOSITORY,
        "name": name,
        "engine": engine,
        "sync_state": sync_state,
        "health": health,
        "drift": False,
        "auto_apply": False,
        "self_heal": False,
        "depends_on": [],
        "applied_revision": APPLIED,
        "applied_commit": None,
        "applied_at": "2025-03-04T05:06:07+00:00",
        "desired_revision": APPLIED,
        "last_run": {
            "id": 7,
            "kind": "apply",
            "status": "succeeded",
            "started_at": "2025-03-04T05:06:00+00:00",
        },
        "pending_plan_run_id": None,
        "busy": False,
        "error": None,
        "source_error": None,
    }
    stack.update(extra)
    return stack


STACKS = [
    _stack("network", "terraform", "synced", "Healthy"),
    _stack(
        "app",
        "terraform",
        "failed",
        "Unknown",
        desired_revision=NEWER,
        last_run={"id": 9, "kind": "plan", "status": "failed", "started_at": "2025-03-04T06:00:00+00:00"},
        error=LONG_ERROR,
    ),
    _stack("web", "kubernetes", "out-of-sync", "Degraded", drift=True),
    _stack(
        "hosts",
        "ansible",
        "pending-approval",
        "Unknown",
        applied_revision=None,
        applied_at=None,
        last_run={"id": 11, "kind": "plan", "status": "succeeded"},
        pending_plan_run_id=11,
    ),
    _stack("evil\x1b[2Jname", "kubernetes", "unknown", "Missing", applied_revision=None, last_run=None),
]

RUNS = [
    {
        "id": 11,
        "stack": "hosts",
        "repository": REPOSITORY,
        "revision": NEWER,
        "kind": "plan",
        "status": "succeeded",
        "started_at": "2025-03-04T06:10:00.123456+00:00",
        "actor": "controller",
        "error": None,
    },
    {
        "id": 9,
        "stack": "app",
        "repository": REPOSITORY,
        "revision": NEWER,
        "kind": "plan",
        "status": "failed",
        "started_at": "2025-03-04T06:00:00+00:00",
        "actor": None,
        "error": LONG_ERROR,
    },
    {
        "id": 8,
        "stack": "network",
        "repository": REPOSITORY,
        "revision": APPLIED,
        "kind": "rollback",
        "status": "succeeded",
        "started_at": "2025-03-04T05:30:00+00:00",
        "actor": "alice (token ops): bad release",
        "error": None,
    },
]


def test_status_from_a_controller() -> None:
    status = {
        "stacks": STACKS,
        "source_errors": [
            {
                "repository": "https://git.example.test/platform/edge.git#main",
                "source_error": "truenorth.yaml: stacks[0].path: required",
            }
        ],
    }
    snapshots.check("status-remote", snapshots.printed(lambda console: remote.print_status(console, status)))


def test_status_of_a_controller_with_no_stacks() -> None:
    status: dict[str, Any] = {"stacks": [], "source_errors": []}
    snapshots.check(
        "status-remote-empty", snapshots.printed(lambda console: remote.print_status(console, status))
    )


def test_history_from_a_controller() -> None:
    snapshots.check("history-remote", snapshots.printed(lambda console: remote.print_history(console, RUNS)))
