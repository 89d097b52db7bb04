"""What the server needs from the controller: the facade's interface, as a Protocol.

The server codes against this and nothing else of the controller, so the API can be
tested with a stand-in and the controller can change inside. ``truenorth serve`` hands
it the real :class:`truenorth.controller.actions.facade.Controller`, which satisfies it
structurally (mypy checks that where the two meet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry

from truenorth.controller.actions import views
from truenorth.controller.loop import metrics as controller_metrics
from truenorth.store import database, records

__all__ = ["ControllerPort"]


class ControllerPort(Protocol):
    """The controller facade as the HTTP layer uses it."""

    @property
    def registry(self) -> CollectorRegistry:
        """Every ``truenorth_*`` metric of this controller."""
        ...

    @property
    def metrics(self) -> controller_metrics.Metrics:
        """The metrics the controller updates (the server counts webhooks there)."""
        ...

    @property
    def store(self) -> database.Store:
        """Read access to runs and run logs."""
        ...

    async def start(self) -> None:
        """Recover, check every repository once, start the loops."""
        ...

    async def stop(self) -> None:
        """Stop the loops and wait for running operations to end cleanly."""
        ...

    def is_ready(self) -> bool:
        """Store reachable and every repository checked at least once."""
        ...

    def push_received(self, *, repository_urls: Sequence[str], ref: str) -> list[str]:
        """Trigger the repositories a push names; return their names (empty: none)."""
        ...

    def repositories(self) -> list[views.RepositoryView]:
        """Every tracked repository."""
        ...

    def stacks(self) -> list[views.StackView]:
        """Every stack of every repository."""
        ...

    def stack(self, name: str, *, repository: str | None = None) -> views.StackView:
        """One stack (``ControllerError`` not_found / invalid when ambiguous)."""
        ...

    def current_plan(self, name: str, *, repository: str | None = None) -> records.RunRecord | None:
        """The pending or latest plan run of a stack."""
        ...

    async def refresh(self, name: str, *, repository: str | None = None, actor: str) -> int:
        """Re-plan now; the run id."""
        ...

    async def sync(self, name: str, *, repository: str | None = None, actor: str) -> int:
        """Apply the stored plan; the run id."""
        ...

    async def approve(self, name: str, *, repository: str | None = None, actor: str) -> int:
        """Apply a plan pending approval; the run id."""
        ...

    async def rollback(
        self, name: str, *, revision: str, repository: str | None = None, actor: str, reason: str
    ) -> int:
        """Apply an earlier applied revision, recording who and why; the run id."""
        ...
