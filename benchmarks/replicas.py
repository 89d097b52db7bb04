"""Several ``truenorth serve`` replicas on one throwaway PostgreSQL, for the scale-out benchmarks.

The database is the tests' throwaway server (:class:`tests.support.postgres.PostgresServer`:
the installed binaries, a Unix socket only, ``fsync`` off, run as an unprivileged user when
this runs as root), started the same way, never another way. Its connection limit is raised
from the tests' 50 (one replica pools up to 15 connections, plus its listener and one per
stack operation in flight), and one fresh database is the replicas' store.

:class:`Database` also reads what the benchmarks report about it: the leases (who holds
which repository), ``pg_stat_database``'s transaction counter, the connections the
replicas hold, and the CPU time of the server's processes (``/proc``). :func:`replicas`
starts controllers configured as an operator starts replicas: each its own data dir, the
same repositories, the same ``store_url`` and the same ``TRUENORTH_OUTPUTS_KEY``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from benchmarks.serving import Controller, RepositorySetting
from truenorth.controller.loop.repositories import store_key
from truenorth.store.sealing import new_key

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

__all__ = ["Database", "Lease", "database", "owner", "replicas", "repository_key"]

#: The server's connection limit. A replica holds one session per stack operation it has
#: *started*, and its reconcile loop starts every due stack of a pass at once (the stack's
#: database lock is taken before the stack waits for an engine worker): converging 1,000
#: new stacks holds about one session per stack, far past PostgreSQL's default of 100. B9
#: reports the peak; this leaves room for it, Terraform's own sessions and the pools.
MAX_CONNECTIONS = 1500
_TICK = os.sysconf("SC_CLK_TCK")
#: What every replica sets as ``application_name`` on its connections.
APPLICATION = "truenorth"


@dataclass(frozen=True)
class Lease:
    """One row of ``leases``: its holder (``""`` when nobody holds it or it expired) and epoch."""

    repository: str
    holder: str
    epoch: int


class Database:
    """The throwaway server and the replicas' database on it."""

    def __init__(self, server: PostgresServer, name: str) -> None:
        self.server = server
        self.name = name
        self.url = server.url(name)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.server.socket_dir), dbname=self.name, user="postgres", autocommit=True
        )

    def leases(self) -> dict[str, Lease]:
        """Every repository's lease by repository key; an expired one shows no holder."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT repository, CASE WHEN expires_at > now() THEN holder ELSE '' END, epoch FROM leases"
            ).fetchall()
        return {str(r): Lease(repository=str(r), holder=str(h), epoch=int(str(e))) for r, h, e in rows}

    def transactions(self) -> int:
        """Transactions committed and rolled back in the replicas' database so far."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (self.name,)
            ).fetchone()
        assert row is not None
        return int(str(row[0]))

    def connections(self) -> int:
        """Sessions the replicas hold on the database now."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                (self.name, APPLICATION),
            ).fetchone()
        assert row is not None
        return int(str(row[0]))

    @contextmanager
    def sessions_peak(self, interval: float = 1.0) -> Iterator[list[int]]:
        """The most sessions the replicas held at once while inside (sampled every ``interval``
        seconds in a thread): the list holds one number once the block ends."""
        found = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(interval):
                with contextlib.suppress(psycopg.Error):
                    found[0] = max(found[0], self.connections())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield found
        finally:
            done.set()
            sampler.join()

    def cpu(self) -> float:
        """CPU seconds of the server: the postmaster, its ended children and its live ones."""
        postmaster = int((self.server.data_dir / "postmaster.pid").read_text().split()[0])
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # ended meanwhile: its time is in the postmaster's children's now
            pid, parent = int(entry.name), int(fields[1])
            if pid == postmaster:
                total += sum(int(v) for v in fields[11:15]) / _TICK  # own and waited-for children
            elif parent == postmaster:
                total += sum(int(v) for v in fields[11:13]) / _TICK
        return total


@contextmanager
def database() -> Iterator[Database]:
    """A throwaway server and a fresh database on it, stopped and deleted afterwards."""
    # Imported here: the tests' module needs pytest (it reports missing binaries as a failure).
    import pytest
    from tests.support.postgres import PostgresServer

    try:
        server = PostgresServer.start()
    except pytest.fail.Exception as exc:  # a BaseException: reworded so one benchmark fails alone
        raise RuntimeError(str(exc)) from None
    try:
        with server.admin() as conn:
            conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS:d}")
        server.pause()
        server.resume()  # the limit takes effect only on a restart
        yield Database(server, server.create_database())
    finally:
        server.stop()


@contextmanager
def replicas(
    work: Path,
    settings: Sequence[RepositorySetting],
    *,
    count: int,
    store: Database,
    lease_seconds: float | None = None,
) -> Iterator[list[Controller]]:
    """``count`` replicas (``work/replica-N``) started together, so that the first to start
    does not take every lease only to hand most back; all stopped (SIGTERM) afterwards."""
    env = {"TRUENORTH_OUTPUTS_KEY": new_key()}
    controllers = [
        Controller(
            work / f"replica-{index}", settings, store_url=store.url, lease_seconds=lease_seconds, env=env
        )
        for index in range(count)
    ]
    with ThreadPoolExecutor(count) as pool:
        try:
            list(pool.map(Controller.start, controllers))
            yield controllers
        finally:
            list(pool.map(Controller.stop, controllers))


def owner(controllers: Sequence[Controller], holder: str) -> int | None:
    """Which of ``controllers`` a lease ``holder`` (``<instance>/<host>:<pid>``) is, if any."""
    found = re.fullmatch(r".*:(\d+)", holder)
    if found is None:
        return None
    pid = int(found.group(1))
    for index, controller in enumerate(controllers):
        if controller.process is not None and controller.process.pid == pid:
            return index
    return None


def repository_key(setting: RepositorySetting) -> str:
    """The key the store keeps ``setting``'s repository under (its lease's ``repository``)."""
    return store_key(setting.url, "main")
