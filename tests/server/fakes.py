"""A stand-in for the controller facade, for unit tests of the HTTP layer.

It implements ``server.ports.ControllerPort`` with canned views and a *real* store (SQLite
in a tmp dir), and records every call, so API tests check what the server asks of the
controller. The process-level tests use the real controller instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from truenorth.controller.actions.views import RepositoryView, StackView
from truenorth.controller.errors import ControllerError
from truenorth.controller.loop.metrics import Metrics
from truenorth.store.database import Store, sqlite_url

SHA_A = "a" * 40
SHA_B = "b" * 40
REPO_KEY = "https://git.example.com/org/infra.git"


def stack_view(name: str, **changes: Any) -> StackView:
    base = StackView(
        repository="infra",
        name=name,
        engine="terraform",
        sync_state="synced",
        health="Healthy",
        drift=False,
        auto_apply=True,
        self_heal=False,
        depends_on=(),
        applied_revision=SHA_A,
        applied_commit={
            "sha": SHA_A,
            "author": "Test Author",
            "date": "2024-05-15T10:00:00+00:00",
            "subject": "init",
        },
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

    def push_received(self, *, repository_urls: Sequence[str], ref: str) -> list[str]:
        self.calls.append(("push_received", {"repository_urls": list(repository_urls), "ref": ref}))
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.push_result)

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
                store_key=REPO_KEY,
            )
        ]

    def stacks(self) -> list[StackView]:
        return list(self.stack_views)

    def stack(self, name: str, *, repository: str | None = None) -> StackView:
        for view in self.stack_views:
            if view.name == name and (repository is None or view.repository == repository):
                return view
        raise ControllerError("not_found", f"no stack named {name!r}")

    def current_plan(self, name: str, *, repository: str | None = None) -> Any:
        self.stack(name, repository=repository)
        return self.store.last_run(repository=REPO_KEY, stack=name, kind="plan")

    async def _action(self, action: str, name: str, **kwargs: Any) -> int:
        self.calls.append((action, {"name": name, **kwargs}))
        if self.fail_with is not None:
            raise self.fail_with
        self.stack(name, repository=kwargs.get("repository"))
        return self.store.start_run(
            stack=name,
            repository=REPO_KEY,
            revision=kwargs.get("revision") or SHA_B,
            kind="plan" if action == "refresh" else "apply",
            actor=kwargs["actor"],
            reason=kwargs.get("reason"),
        )

    async def refresh(self, name: str, *, repository: str | None = None, actor: str) -> int:
        return await self._action("refresh", name, repository=repository, actor=actor)

    async def sync(self, name: str, *, repository: str | None = None, actor: str) -> int:
        return await self._action("sync", name, repository=repository, actor=actor)

    async def approve(self, name: str, *, repository: str | None = None, actor: str) -> int:
        return await self._action("approve", name, repository=repository, actor=actor)

    async def rollback(
        self, name: str, *, revision: str, repository: str | None = None, actor: str, reason: str
    ) -> int:
        return await self._action(
            "rollback", name, repository=repository, actor=actor, revision=revision, reason=reason
        )
