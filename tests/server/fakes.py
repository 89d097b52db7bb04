"""A stand-in for the controller facade, for unit tests of the HTTP layer.

It implements ``server.ports.ControllerPort`` with canned stack views and a *real* store
(SQLite in a tmp dir) for runs and logs, turned into views by the controller's own
``reading`` functions, and records every call, so API tests check what the server asks
of the controller. The process-level tests use the real controller instead.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from truenorth.controller import errors
from truenorth.controller.actions import reading, views
from truenorth.controller.actions.views import RepositoryView, StackView
from truenorth.controller.errors import ControllerError
from truenorth.controller.loop.metrics import Metrics
from truenorth.core import ids, states
from truenorth.store.database import Store, sqlite_url

SHA_A = "a" * 40
SHA_B = "b" * 40
REPO_KEY = "https://git.example.com/org/infra.git#main"


def stack_view(name: str, **changes: Any) -> StackView:
    base = StackView(
        repository="infra",
        name=name,
        engine="terraform",
        sync_state=states.SyncState.SYNCED,
        health=states.Health.HEALTHY,
        drift=False,
        auto_apply=True,
        self_heal=False,
        depends_on=(),
        applied_revision=SHA_A,
        applied_commit=views.CommitView(
            sha=SHA_A,
            author="Test Author",
            date=datetime(2024, 5, 15, 10, 0, tzinfo=UTC),
            subject="init",
        ),
        desired_revision=SHA_A,
        last_run=None,
        pending_plan_run_id=None,
        error=None,
    )
    return replace(base, **changes)


@dataclass
class FakeController:
    data_dir: Path
    stack_views: list[StackView] = field(default_factory=list)
    ready: bool = True
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: ControllerError | None = None
    push_result: list[str] = field(default_factory=lambda: ["infra"])
    #: The repository's source error (a refused truenorth.yaml, say).
    source_error: str | None = None

    def __post_init__(self) -> None:
        self.metrics = Metrics()
        self.registry = self.metrics.registry
        self.store = Store.open(sqlite_url(self.data_dir))
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def is_ready(self) -> bool:
        return self.ready

    def push_received(self, *, repository_urls: Sequence[str], ref: str, sha: str | None = None) -> list[str]:
        self.calls.append(
            ("push_received", {"repository_urls": list(repository_urls), "ref": ref, "sha": sha})
        )
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.push_result)

    async def changed(self) -> None:
        """Nothing changes by itself here: wait until cancelled."""
        await asyncio.Event().wait()

    def state_counts(self) -> dict[tuple[states.SyncState, states.Health], int]:
        return dict(Counter((view.sync_state, view.health) for view in self.stack_views))

    def repositories(self) -> list[RepositoryView]:
        now = datetime(2024, 5, 15, 10, 0, tzinfo=UTC)
        return [
            RepositoryView(
                name="infra",
                url="https://git.example.com/org/infra.git",
                branch="main",
                revision=SHA_A,
                source_error=self.source_error,
                last_fetch_at=now,
                last_check_at=now,
                valid_revision=SHA_A,
                store_key=ids.RepositoryKey(REPO_KEY),
            )
        ]

    def stack_page(self, query: views.StackQuery) -> views.StackPage:
        found = [
            view
            for view in self.stack_views
            if query.repository in (None, view.repository)
            and query.engine in (None, view.engine)
            and query.sync_state in (None, view.sync_state.value)
            and (query.health is None or query.health.lower() == view.health.value.lower())
            and (query.name_contains is None or query.name_contains.lower() in view.name.lower())
        ]
        if query.sort == "name":
            found.sort(key=lambda view: (view.name, view.repository))
        broken = [
            views.SourceError(repository=repo.name, error=repo.source_error)
            for repo in self.repositories()
            if repo.source_error and query.repository in (None, repo.name)
        ]
        return views.StackPage(
            items=tuple(found[query.offset : query.offset + query.limit]),
            total=len(found),
            source_errors=tuple(broken),
        )

    def stack(self, name: str, *, repository: str | None = None) -> StackView:
        for view in self.stack_views:
            if view.name == name and (repository is None or view.repository == repository):
                return view
        raise ControllerError("not_found", f"no stack named {name!r}")

    def current_plan(self, name: str, *, repository: str | None = None) -> views.RunDetail | None:
        self.stack(name, repository=repository)
        with errors.store_unavailable():
            found = self.store.last_run(repository=REPO_KEY, stack=name, kind="plan")
        return None if found is None else reading.run_detail(found, repository="infra")

    def stack_runs(
        self, name: str, *, repository: str | None = None, offset: int = 0, limit: int = 50
    ) -> views.RunPage:
        self.stack(name, repository=repository)
        return self.runs(views.RunQuery(stack=name, repository="infra", offset=offset, limit=limit))

    def runs(self, query: views.RunQuery) -> views.RunPage:
        if query.repository not in (None, "infra"):
            raise ControllerError("not_found", f"no repository named {query.repository!r}")
        filters: dict[str, Any] = {
            "stack": query.stack,
            "repository": None if query.repository is None else REPO_KEY,
            "kind": None if query.kind is None else query.kind.value,
            "status": None if query.status is None else query.status.value,
        }
        with errors.store_unavailable():
            found = self.store.list_runs(**filters, limit=query.limit, offset=query.offset)
            total = self.store.count_runs(**filters)
        names = {REPO_KEY: "infra"}
        return views.RunPage(
            items=tuple(reading.run_view(r, repository=names.get(r.repository, r.repository)) for r in found),
            total=total,
        )

    def run(self, run_id: ids.RunId) -> views.RunDetail | None:
        with errors.store_unavailable():
            found = self.store.get_run(run_id)
        return None if found is None else reading.run_detail(found, repository="infra")

    def run_log(self, run_id: ids.RunId, *, after: int = 0, limit: int = 1000) -> views.LogPage | None:
        with errors.store_unavailable():
            found = self.store.get_run(run_id)
            if found is None:
                return None
            lines = self.store.read_log(run_id, after_seq=after, limit=limit)
        return views.LogPage(run_id=run_id, lines=tuple(lines), finished=found.finished)

    async def _action(self, action: str, name: str, **kwargs: Any) -> ids.RunId:
        self.calls.append((action, {"name": name, **kwargs}))
        if self.fail_with is not None:
            raise self.fail_with
        self.stack(name, repository=kwargs.get("repository"))
        return ids.RunId(
            self.store.start_run(
                stack=name,
                repository=REPO_KEY,
                revision=kwargs.get("revision") or SHA_B,
                kind="plan" if action == "refresh" else "apply",
                actor=kwargs["actor"],
                reason=kwargs.get("reason"),
            )
        )

    async def refresh(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        return await self._action("refresh", name, repository=repository, actor=actor)

    async def sync(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        return await self._action("sync", name, repository=repository, actor=actor)

    async def approve(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        return await self._action("approve", name, repository=repository, actor=actor)

    async def rollback(
        self, name: str, *, revision: str, repository: str | None = None, actor: str, reason: str
    ) -> ids.RunId:
        return await self._action(
            "rollback", name, repository=repository, actor=actor, revision=revision, reason=reason
        )
