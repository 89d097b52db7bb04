"""Snapshots of ``truenorth status`` and ``truenorth history`` on a local data dir.

The tables are built inside the commands from the store's records, so these tests run
the real commands on a real SQLite store filled with fixed runs and stack states (fixed
times, revisions and ids), and record what the CLI's console prints at a fixed width.
They are integration tests (a database file); the ``--server`` tables, which are pure,
are in ``test_status_tables.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import snapshots
from truenorth.cli import main
from truenorth.store import Store, sqlite_url

REPOSITORY = "https://git.example.test/platform/infra.git#main"
OTHER = "/srv/git/edge#release"
APPLIED = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"
NEWER = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
ERROR = (
    "stack 'app': terraform plan failed: Error: Invalid reference on main.tf line 12, in resource "
    '"terraform_data" "app": A reference to a resource type must be followed by at least one '
    "attribute access, specifying the resource name."
)


def _at(hour: int, minute: int) -> datetime:
    return datetime(2025, 3, 4, hour, minute, 5, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir whose store holds three stacks of two repositories and their runs."""
    root = tmp_path / "data"
    store = Store.open(sqlite_url(root), clock=lambda: _at(12, 0))
    try:
        store.record_run(
            stack="network",
            repository=REPOSITORY,
            revision=APPLIED,
            kind="apply",
            status="succeeded",
            summary={"add": 2, "change": 0, "destroy": 0},
            started_at=_at(5, 6),
        )
        store.record_run(
            stack="app",
            repository=REPOSITORY,
            revision=NEWER,
            kind="plan",
            status="failed",
            error=ERROR,
            started_at=_at(6, 0),
        )
        store.record_run(
            stack="hosts",
            repository=OTHER,
            revision=NEWER,
            kind="drift",
            status="succeeded",
            summary={"add": 0, "change": 3, "destroy": 1},
            started_at=_at(6, 10),
        )
        store.upsert_stack(
            repository=REPOSITORY,
            name="network",
            engine="terraform",
            sync_state="synced",
            applied_revision=APPLIED,
            applied_at=_at(5, 7),
        )
        store.upsert_stack(
            repository=REPOSITORY, name="app", engine="terraform", sync_state="failed", error=ERROR
        )
        store.upsert_stack(
            repository=OTHER,
            name="hosts",
            engine="ansible",
            sync_state="out-of-sync",
            applied_revision=APPLIED,
            applied_at=_at(4, 30),
        )
    finally:
        store.close()
    return root


def _printed(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    recorded = snapshots.console()
    monkeypatch.setattr(main, "console", recorded)
    result = CliRunner().invoke(main.app, list(args))
    assert result.exit_code == 0, result.output
    return snapshots.text(recorded)


def test_local_status(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots.check("status-local", _printed(monkeypatch, "status", "--data-dir", str(data_dir)))


def test_local_history(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots.check("history-local", _printed(monkeypatch, "history", "--data-dir", str(data_dir)))


def test_local_status_with_nothing_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots.check(
        "status-local-empty", _printed(monkeypatch, "status", "--data-dir", str(tmp_path / "data"))
    )
