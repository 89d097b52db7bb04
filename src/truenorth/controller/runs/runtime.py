"""The long-lived parts an operation needs, gathered once: layout, store, engines, sources.

The CLI builds one :class:`Runtime` per command and the server one per process; every
operation in :mod:`truenorth.controller.runs.executing` takes it as its first argument.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from truenorth.config import sandboxes
from truenorth.controller.runs import layout, ownership, registry, secrets, sources
from truenorth.core import specs
from truenorth.engines import protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.store import database, sealing
from truenorth.store import urls as store_urls

__all__ = ["Runtime", "open_runtime"]

ClusterLookup = Callable[[specs.StackSpec], Mapping[str, str]]
#: A repository's key -> how its engine programs are confined.
SandboxLookup = Callable[[str], sandboxing.Policy]


def _no_clusters(stack: specs.StackSpec) -> Mapping[str, str]:
    del stack
    return {}


@dataclass
class Runtime:
    """Shared services for operations. Not frozen: the store and engines hold connections."""

    layout: layout.DataLayout
    store: database.Store
    engines: registry.EngineRegistry
    sources: sources.Sources
    secrets: secrets.SecretResolver = field(default_factory=secrets.SecretResolver)
    clusters: ClusterLookup = _no_clusters
    timeout: float = 3600.0
    #: Identifies this process in recorded runs: ``<data dir instance>/<host>:<pid>``
    #: (crash recovery ends only the runs of its own data dir).
    holder: str | None = None
    #: How each repository's engine programs are confined, and what each may use.
    sandbox: SandboxLookup = field(default=lambda key: sandboxing.Policy())
    limits: sandboxing.Limits = field(default_factory=sandboxing.Limits)
    #: The PostgreSQL URL (libpq form) of state shared by replicas, e.g. Terraform's ``pg``
    #: backend for stacks that declare no backend; None keeps state in the data dir.
    shared_state_url: str | None = field(default=None, repr=False)

    def shared_state(self, repository: str) -> protocol.SharedState | None:
        """What an engine gets for ``repository``'s stacks: None unless state is shared."""
        if self.shared_state_url is None:
            return None
        return protocol.SharedState(repository=repository, postgres_url=self.shared_state_url)

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()


def open_runtime(
    data_dir: Path,
    *,
    store_url: str | None = None,
    engines: registry.EngineRegistry | None = None,
    secret_resolver: secrets.SecretResolver | None = None,
    clusters: ClusterLookup | None = None,
    timeout: float = 3600.0,
    holder: str | None = None,
    sandbox: SandboxLookup | None = None,
    limits: sandboxing.Limits | None = None,
) -> Runtime:
    """Create the data dir layout, open (and migrate) the store, and wire the rest.

    ``holder`` names this process in the runs it records (default: :func:`ownership.holder`).
    The store seals sensitive stack outputs with the key ``TRUENORTH_OUTPUTS_KEY`` holds, else
    with ``<data dir>/outputs.key`` (made on first use, 0600).
    ``sandbox`` and ``limits`` default to what the ``TRUENORTH_SANDBOX``/``TRUENORTH_LIMIT_*``
    variables say (the local commands read no configuration file).
    """
    if sandbox is None or limits is None:
        local_policy, local_limits = sandboxes.from_environment(os.environ)
        sandbox = sandbox or (lambda key: local_policy)
        limits = limits or local_limits
    where = layout.DataLayout.at(data_dir)
    where.ensure()
    holder = holder or ownership.holder(where.root)
    # Sensitive stack outputs are sealed in the store under a key kept outside it.
    sealer = sealing.Sealer.load(key_file=where.outputs_key)
    store = database.Store.open(store_url or store_urls.sqlite_url(where.root), sealer=sealer)
    return Runtime(
        layout=where,
        store=store,
        engines=engines or registry.EngineRegistry(),
        sources=sources.Sources(where.git),
        secrets=secret_resolver or secrets.SecretResolver(),
        clusters=clusters or _no_clusters,
        timeout=timeout,
        holder=holder,
        sandbox=sandbox,
        limits=limits,
    )
