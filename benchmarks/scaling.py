"""B9 (idle cost of replicas) and B10 (a webhook through a replica that does not own the repository).

Both run three real ``truenorth serve`` replicas on one throwaway PostgreSQL
(:mod:`benchmarks.replicas`): each its own data dir, the same repositories, the same
``store_url`` and outputs key, started together.

**B9.** B5's 1,000 Terraform stacks in 10 repositories (60 s polls), converged by the three
replicas first (not measured), then left alone over whole poll cycles: each replica's own
CPU per poll cycle (``/proc/<pid>/stat``; git, its child processes, in the details), its
resident memory, and the database's work over the span (transactions per minute from
``pg_stat_database``, the sessions the replicas hold, the server's CPU). The reference,
in the same run, is what a team runs without replicas: one controller on SQLite over the
same repositories, converged and measured the same way. The value is the three replicas'
summed CPU per cycle over the one controller's. Drift checks are put out of the span on
both sides (``drift_interval: 24h``): when they come due is a matter of when each stack
converged, not of replication, and B5 reports their cost; the span holds only polling and,
for replicas, the lease ticks (every 10 s with the default 30 s lease) and listeners. The
span starts once the leases are balanced and a whole poll cycle passed with no plan or
apply anywhere; how the leases spread (repositories per replica) is in the details.

**B10.** Three repositories of one Terraform stack each (``auto_apply``); once each replica
holds one repository's lease, every push commits a change to one stack and sends the push
webhook (the generic provider, as in B4) alternately to the replica holding the
repository's lease (read from ``leases``) and to one that does not (which records the
request in the database and wakes the owner with ``NOTIFY``), then waits until the stack
is applied at that commit. The latency is the first run's ``started_at`` at that commit
minus the time the webhook was sent (B4's timeline). The value is the median through a
non-owner over the median through the owner; both sides' p50/p95 are in the details.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import idling, replicas, webhooks
from benchmarks.measuring import Measurement, Size, median, percentile
from benchmarks.serving import Controller, Cpu, GitTree, RepositorySetting, running, started_at, wait_for

__all__ = ["idle", "routed"]

REPLICAS = 3
#: The replicas together cost at most half again one controller's idle CPU: they split the
#: polling, and add only each one's lease tick and listener.
GOAL_RATIO = 1.5
#: B5's goals, for each replica.
GOAL_CPU_PER_CYCLE = idling.GOAL_CPU_PER_CYCLE
GOAL_MB = idling.GOAL_MB
#: One routing hop (a row written, a ``NOTIFY``, the owner taking the request) adds at most
#: half again to B4's path from webhook to run started.
GOAL_ROUTED_RATIO = 1.5
#: Converging stops the benchmark after this long with no run and no sync state changing.
STALL = 600.0
#: The smoke run's lease: short, so that three replicas share their repositories in seconds.
SMOKE_LEASE = 3.0


def _terraform() -> None:
    if shutil.which("terraform") is None:
        raise RuntimeError("terraform is not on PATH")


def _spread(store: replicas.Database, group: Sequence[Controller], keys: Sequence[str]) -> list[int] | None:
    """Repositories per replica once every lease is held by one of ``group``, shares differing
    by at most one (the rule of ``core/assignments.py``); None until then."""
    leases = store.leases()
    holders = [replicas.owner(group, leases[key].holder) if key in leases else None for key in keys]
    if None in holders:
        return None
    counts = Counter(holders)
    shares = [counts.get(index, 0) for index in range(len(group))]
    expected = min(len(group), len(keys))
    if sum(1 for share in shares if share) < expected or max(shares) - min(shares) > 1:
        return None
    return shares


def _changes(controller: Controller) -> int:
    """Plans and applies recorded so far (in the shared store: every replica's)."""
    return controller.count_runs(kind="plan") + controller.count_runs(kind="apply")


def _quiet(controller: Controller) -> bool:
    return controller.count_runs(status="running") + controller.count_runs(status="pending") == 0


def _settle(
    group: Sequence[Controller],
    *,
    stacks: int,
    repositories: int,
    balanced: Callable[[], object] | None = None,
) -> None:
    """Until every stack is synced and a whole poll cycle (every repository checked once more,
    by whichever replica holds it) passed with no plan or apply anywhere: a replica that took
    a repository over plans its stacks once, as after a restart, and that must be over."""
    first = group[0]
    while True:
        if balanced is not None:
            wait_for(balanced, what="the leases balanced", interval=0.5)
        _wait_synced(first, stacks=stacks)
        wait_for(lambda: _quiet(first), what="no run in flight", interval=1.0)
        changes = _changes(first)
        _wait_cycle(group, repositories=repositories)
        if _quiet(first) and _changes(first) == changes and (balanced is None or balanced()):
            return


def _wait_synced(controller: Controller, *, stacks: int) -> None:
    """Until ``stacks`` stacks are synced. A stack may fail a try and be retried meanwhile
    (Terraform's ``pg`` backend: several stacks creating their state at once collide on its
    global workspace-creation lock and shared sequence); only no progress at all for
    :data:`STALL` seconds stops the benchmark."""
    progress: list[object] = [None, time.monotonic()]

    def synced() -> bool:
        counts = controller.get("/api/v1/counts")["sync_state"]
        if counts.get("synced", 0) >= stacks:
            return True
        now = (counts, _changes(controller))
        if now != progress[0]:
            progress[:] = [now, time.monotonic()]
        elif time.monotonic() - float(str(progress[1])) > STALL:
            raise RuntimeError(f"no progress for {STALL:.0f}s converging: {counts}\n{controller.logs()}")
        return False

    wait_for(synced, what=f"{stacks} stacks synced", interval=1.0)


def _wait_cycle(group: Sequence[Controller], *, repositories: int) -> None:
    """Until every repository was checked once more, by whichever replica holds it."""
    cycle = sum(c.passes() for c in group) + repositories
    wait_for(lambda: sum(c.passes() for c in group) >= cycle, what="a poll cycle", interval=1.0)


def _idle_span(group: Sequence[Controller], *, span: float) -> tuple[list[Cpu], float]:
    """Each controller's CPU over ``span`` seconds of nothing but its own timers; the span."""
    before, started = [c.cpu() for c in group], time.perf_counter()
    time.sleep(span)  # the measured span itself: nothing happens but the controllers' timers
    spent = [c.cpu() - b for c, b in zip(group, before, strict=True)]
    return spent, time.perf_counter() - started


def idle(size: Size) -> list[Measurement]:
    _terraform()
    repositories, per_repository = size.pick(10, 2), size.pick(100, 2)
    poll, cycles = size.pick(int(idling.POLL_INTERVAL), 2), size.pick(3, 2)
    lease = None if not size.smoke else SMOKE_LEASE
    stacks = repositories * per_repository
    with tempfile.TemporaryDirectory(prefix="tn-bench-b9-") as name:
        work = Path(name)
        settings = idling.terraform_repositories(
            work, repositories=repositories, per_repository=per_repository, poll=poll, drift_interval="24h"
        )
        keys = [replicas.repository_key(s) for s in settings]
        with (
            replicas.database() as store,
            replicas.replicas(
                work / "replicas", settings, count=REPLICAS, store=store, lease_seconds=lease
            ) as group,
        ):
            converging = time.perf_counter()
            with store.sessions_peak() as sessions_converging:
                _settle(
                    group,
                    stacks=stacks,
                    repositories=repositories,
                    balanced=lambda: _spread(store, group, keys),
                )
            converged_in = time.perf_counter() - converging
            failed_tries = group[0].count_runs(status="failed")
            epochs = sum(found.epoch for found in store.leases().values())
            changes = _changes(group[0])
            transactions, database_cpu = store.transactions(), store.cpu()
            spent, span = _idle_span(group, span=cycles * poll)
            transactions, database_cpu = store.transactions() - transactions, store.cpu() - database_cpu
            connections = store.connections()
            shares = _spread(store, group, keys)
            moved = sum(found.epoch for found in store.leases().values()) - epochs
            changed = _changes(group[0]) - changes
            memory = [c.memory_mb() for c in group]
        with running(Controller(work / "single", settings)) as single:
            converging = time.perf_counter()
            _settle([single], stacks=stacks, repositories=repositories)
            reference_converged_in = time.perf_counter() - converging
            reference_changes = _changes(single)
            (reference,), reference_span = _idle_span([single], span=cycles * poll)
            reference_changed = _changes(single) - reference_changes
            reference_memory, _ = single.memory_mb()

    def per_cycle(seconds: float, over: float) -> float:
        return seconds * poll / over

    own = [per_cycle(s.own, span) for s in spent]
    children = [per_cycle(s.children, span) for s in spent]
    reference_own = per_cycle(reference.own, reference_span)
    reference_children = per_cycle(reference.children, reference_span)
    common: dict[str, object] = {
        "stacks": stacks,
        "repositories": repositories,
        "replicas": REPLICAS,
        "poll_interval_s": poll,
        "lease_s": lease or 30,
    }
    return [
        Measurement(
            key="B9",
            title=f"idle, {stacks:,} stacks in {repositories} repositories: {REPLICAS} replicas on PostgreSQL, "
            "their summed CPU per poll cycle / one controller on SQLite (own processes; drift checks not due)",
            value=round(sum(own) / reference_own, 3),
            unit="ratio",
            goal=GOAL_RATIO,
            detail={
                **common,
                "replicas_cpu_s_per_cycle": round(sum(own), 3),
                "one_controller_cpu_s_per_cycle": round(reference_own, 3),
                "with_child_processes_ratio": round(
                    (sum(own) + sum(children)) / (reference_own + reference_children), 3
                ),
                "database_cpu_s_per_cycle": round(per_cycle(database_cpu, span), 3),
                "with_database_ratio": round((sum(own) + per_cycle(database_cpu, span)) / reference_own, 3),
                "database_transactions_per_min": round(transactions * 60 / span, 1),
                "database_sessions_held": connections,
                "database_sessions_peak_converging": sessions_converging[0],
                "failed_tries_converging": failed_tries,
                "repositories_per_replica": shares,
                "lease_moves_in_span": moved,
                "plans_and_applies_in_span": changed + reference_changed,
                "cycles": round(span / poll, 2),
                "replicas_converged_in_s": round(converged_in, 1),
                "one_controller_converged_in_s": round(reference_converged_in, 1),
            },
        ),
        Measurement(
            key="B9.cpu",
            title=f"idle, {stacks:,} stacks across {REPLICAS} replicas: the busiest replica's CPU per poll cycle "
            "(its own process)",
            value=round(max(own), 3),
            unit="CPU-s",
            goal=GOAL_CPU_PER_CYCLE,
            detail={
                **common,
                "per_replica_cpu_s": [round(v, 3) for v in own],
                "per_replica_children_cpu_s": [round(v, 3) for v in children],
                "repositories_per_replica": shares,
                "one_controller_cpu_s": round(reference_own, 3),
            },
        ),
        Measurement(
            key="B9.memory",
            title=f"idle, {stacks:,} stacks across {REPLICAS} replicas: the largest replica's resident memory (VmRSS)",
            value=round(max(rss for rss, _ in memory), 1),
            unit="MB",
            goal=GOAL_MB,
            detail={
                "per_replica_mb": [round(rss, 1) for rss, _ in memory],
                "per_replica_peak_mb": [round(peak, 1) for _, peak in memory],
                "one_controller_mb": round(reference_memory, 1),
                "stacks": stacks,
            },
        ),
    ]


def routed(size: Size) -> list[Measurement]:
    _terraform()
    pushes = size.pick(40, 2)  # through a non-owner; as many through the owner
    lease = None if not size.smoke else SMOKE_LEASE
    latencies: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="tn-bench-b10-") as name:
        work = Path(name)
        spec = "stacks:\n  - {name: app, engine: terraform, path: stacks/app, auto_apply: true}\n"
        trees: list[GitTree] = []
        shas: list[str] = []
        settings: list[RepositorySetting] = []
        for index in range(REPLICAS):
            tree = GitTree(work / f"repo-{index}")
            shas.append(
                tree.commit("app", {"truenorth.yaml": spec, "stacks/app/main.tf": webhooks.STACK % 0})
            )
            trees.append(tree)
            settings.append(RepositorySetting(f"repo-{index}", tree.url))
        keys = [replicas.repository_key(s) for s in settings]
        with (
            replicas.database() as store,
            replicas.replicas(
                work / "replicas", settings, count=REPLICAS, store=store, lease_seconds=lease
            ) as group,
        ):
            wait_for(lambda: _spread(store, group, keys), what="one repository per replica", interval=0.5)
            _wait_synced(group[0], stacks=len(settings))
            wait_for(lambda: _quiet(group[0]), what="no run in flight", interval=0.5)
            for push in range(2 * pushes):
                index = (push // 2) % len(settings)
                through_other = push % 2 == 1
                setting, tree = settings[index], trees[index]
                holder = store.leases()[keys[index]].holder
                owner = replicas.owner(group, holder)
                if owner is None:
                    raise RuntimeError(f"nobody holds the lease of {setting.name}: {holder!r}")
                others = [i for i in range(len(group)) if i != owner]
                target = others[(push // (2 * len(settings))) % len(others)] if through_other else owner
                sha = tree.commit(f"release {push + 1}", {"stacks/app/main.tf": webhooks.STACK % (push + 1)})
                sent = group[target].push(tree.url)
                group[owner].wait_synced("app", sha, repository=setting.name, interval=0.05)
                if store.leases()[keys[index]].holder != holder:
                    raise RuntimeError(f"the lease of {setting.name} moved during a push")
                started = min(
                    started_at(run)
                    for run in group[owner].runs(stack="app", repository=setting.name)
                    if run["revision"] == sha
                )
                latencies[through_other].append(started - sent)
    routed_ms = [seconds * 1000 for seconds in latencies[True]]
    direct_ms = [seconds * 1000 for seconds in latencies[False]]
    return [
        Measurement(
            key="B10",
            title=f"push webhook to run started through a replica not holding the repository's lease / "
            f"through the one holding it, {pushes} pushes each, {REPLICAS} replicas: p50",
            value=round(median(routed_ms) / median(direct_ms), 3),
            unit="ratio",
            goal=GOAL_ROUTED_RATIO,
            detail={
                "non_owner_p50_ms": round(median(routed_ms), 1),
                "non_owner_p95_ms": round(percentile(routed_ms, 0.95), 1),
                "non_owner_max_ms": round(max(routed_ms), 1),
                "owner_p50_ms": round(median(direct_ms), 1),
                "owner_p95_ms": round(percentile(direct_ms, 0.95), 1),
                "owner_max_ms": round(max(direct_ms), 1),
                "p95_ratio": round(percentile(routed_ms, 0.95) / percentile(direct_ms, 0.95), 3),
                "repositories": len(settings),
                "lease_s": lease or 30,
            },
        )
    ]
