"""Stores as an older truenorth left them: schema 0001, records kept under URLs as written.

Upgrade tests build such a store with the real migration scripts stopped at ``0001``
and write rows with the columns 0001 had, then open it with today's ``Store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from truenorth.store import database_url, migrating

__all__ = ["OldStore"]

_RUN_TEXT = [
    "stack",
    "repository",
    "revision",
    "kind",
    "status",
    "output",
    "error",
    "actor",
    "reason",
    "plan_id",
    "holder",
]
_RUNS = sa.table(
    "runs",
    *(sa.column(name) for name in _RUN_TEXT),
    *(sa.column(name, sa.JSON) for name in ("summary", "changes", "hosts")),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
)
_STACK_TEXT = [
    "repository",
    "name",
    "engine",
    "sync_state",
    "health",
    "applied_revision",
    "last_run_id",
    "pending_plan_id",
    "error",
]
_STACKS = sa.table(
    "stacks",
    *(sa.column(name) for name in _STACK_TEXT),
    sa.column("applied_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


class OldStore:
    """A database at schema 0001 behind ``url`` (created on construction)."""

    def __init__(self, url: str) -> None:
        parsed = database_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(parsed)
        with self.engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(migrating.MIGRATIONS).replace("%", "%%"))
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")

    def close(self) -> None:
        self.engine.dispose()

    def add_run(
        self, *, repository: str, stack: str, revision: str, kind: str = "apply", when: datetime | None = None
    ) -> int:
        """A succeeded run, as 0001 kept it; returns its id."""
        moment = self._time(when)
        values = {
            "stack": stack, "repository": repository, "revision": revision, "kind": kind,
            "status": "succeeded", "summary": {}, "changes": [], "hosts": [], "output": "",
            "error": "", "actor": None, "reason": None, "plan_id": None, "holder": None,
            "started_at": moment, "finished_at": moment,
        }  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(sa.insert(_RUNS).values(**values))
            return int(conn.execute(sa.text("SELECT max(id) FROM runs")).scalar_one())

    def add_stack(
        self,
        *,
        repository: str,
        name: str,
        applied_revision: str,
        last_run_id: int,
        when: datetime | None = None,
    ) -> None:
        """A synced stack applied at ``applied_revision``, as 0001 kept it."""
        moment = self._time(when)
        values = {
            "repository": repository, "name": name, "engine": "terraform", "sync_state": "synced",
            "health": "Healthy", "applied_revision": applied_revision, "last_run_id": last_run_id,
            "pending_plan_id": None, "error": "", "applied_at": moment, "updated_at": moment,
        }  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(sa.insert(_STACKS).values(**values))

    def _time(self, when: datetime | None) -> datetime:
        moment = (when or datetime.now(UTC)).astimezone(UTC)
        return moment.replace(tzinfo=None) if self.engine.dialect.name == "sqlite" else moment
