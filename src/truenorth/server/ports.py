"""What the server needs from the controller: a narrow port, as a Protocol.

The server codes against this and nothing else of the controller, so the API can be
tested with a stand-in and the controller can change inside. ``truenorth serve`` hands
it the real :class:`truenorth.controller.actions.facade.Controller`, which satisfies it
structurally (mypy checks that where the two meet).

Reads only read, and return typed views (:mod:`truenorth.controller.actions.views`)
with repositories named as configured; nothing here reaches the store, its keys or its
errors (the controller raises :class:`~truenorth.controller.errors.ControllerError`
``unavailable`` when the store fails). Reads are synchronous and sized to a page: the
API calls them from its thread pool, never on the event loop. The four actions are
the only writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry

from truenorth.controller.actions import views
from truenorth.controller.loop import metrics as controller_metrics
from truenorth.core import ids, states

__all__ = ["ControllerPort"]


class ControllerPort(Protocol):
    """The controller facade as the HTTP layer uses it."""

    @property
    def registry(self) -> CollectorRegistry:
        """Every ``truenorth_*`` metric of this controller (the stack gauge counted at scrape time)."""
        ...

    @property
    def metrics(self) -> controller_metrics.Metrics:
        """The metrics the controller updates (the server counts webhooks there)."""
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

    def sandbox_status(self) -> Mapping[str, str]:
        """Whether engine programs run sandboxed: ``mode``, ``engines``, and ``bubblewrap``'s failure."""
        ...

    def push_received(self, *, repository_urls: Sequence[str], ref: str, sha: str | None = None) -> list[str]:
        """Trigger the repositories a push names (``sha``: the commit it names); return their names."""
        ...

    async def changed(self) -> None:
        """Return at the next change of the controller's state (a run starts or ends, a check, an action)."""
        ...

    def state_counts(self) -> Mapping[tuple[states.SyncState, states.Health], int]:
        """How many stacks are in each (sync state, health): one short store query."""
        ...

    def repositories(self) -> Sequence[views.RepositoryView]:
        """Every tracked repository, in configuration order."""
        ...

    def stack_page(self, query: views.StackQuery) -> views.StackPage:
        """One page of the stacks ``query`` filters, their total, and the repositories in error."""
        ...

    def stack(self, name: str, *, repository: str | None = None) -> views.StackView:
        """One stack with its inputs and outputs, masked (``ControllerError`` not_found /
        invalid when ambiguous)."""
        ...

    def stack_outputs(self, name: str, *, repository: str | None = None) -> views.OutputsView:
        """The outputs the stack's last successful apply recorded, sensitive values masked
        (``ControllerError`` as :meth:`stack`)."""
        ...

    def current_plan(self, name: str, *, repository: str | None = None) -> views.RunDetail | None:
        """The pending or latest plan run of a stack (None: never planned)."""
        ...

    def stack_runs(
        self, name: str, *, repository: str | None = None, offset: int = 0, limit: int = 50
    ) -> views.RunPage:
        """The stack's runs, newest first (``ControllerError`` as :meth:`stack`)."""
        ...

    def runs(self, query: views.RunQuery) -> views.RunPage:
        """Every run, newest first, filtered (not_found for an unknown repository name)."""
        ...

    def run(self, run_id: ids.RunId) -> views.RunDetail | None:
        """One run with its changes, hosts and output (None: no such run)."""
        ...

    def run_log(self, run_id: ids.RunId, *, after: int = 0, limit: int = 1000) -> views.LogPage | None:
        """The run's log lines numbered after ``after``, at most ``limit`` (None: no such run)."""
        ...

    async def refresh(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        """Re-plan now; the run id."""
        ...

    async def sync(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        """Apply the stored plan; the run id."""
        ...

    async def approve(self, name: str, *, repository: str | None = None, actor: str) -> ids.RunId:
        """Apply a plan pending approval; the run id."""
        ...

    async def rollback(
        self, name: str, *, revision: str, repository: str | None = None, actor: str, reason: str
    ) -> ids.RunId:
        """Apply an earlier applied revision, recording who and why; the run id."""
        ...
