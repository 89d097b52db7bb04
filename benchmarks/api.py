"""B6: the API at 10,000 stacks: p50 of an overview page, a filtered page and ``/metrics`` (goal 100 ms each).

The real controller's read side over a real SQLite store, behind the real FastAPI app
(in process, through Starlette's test client: no socket, every middleware). The
controller is built but not started, as ``tests/server/test_overview.py`` does: the store
is filled directly (10 repositories of 1,000 stacks, each with a finished run; 90% synced,
the rest out of sync, failed or waiting for approval) and each repository's declared
stacks are set as a reconcile pass would. Requests alternate between the three; the value
of each is its median latency.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from benchmarks.measuring import Measurement, Size, median, percentile

__all__ = ["measure"]

GOAL_MS = 100.0
TOKEN = "tn-bench-viewer-0123456789abcdef"  # noqa: S105 (a throwaway token)
SHA = "b" * 40
ENGINES = ("terraform", "ansible", "kubernetes")
PATHS = {
    "overview": "/api/v1/stacks",
    "filtered": "/api/v1/stacks?sync_state=out-of-sync",
    "metrics": "/metrics",
}


def _state(index: int) -> tuple[str, str]:
    slot = index % 100
    if slot < 90:
        return "synced", "Healthy"
    if slot < 95:
        return "out-of-sync", "Healthy"
    if slot < 98:
        return "failed", "Degraded"
    return "pending-approval", "Healthy"


def measure(size: Size) -> list[Measurement]:
    # The server's modules are the benchmark's subject, imported when it runs.
    from fastapi.testclient import TestClient

    from truenorth import config
    from truenorth.controller.actions import facade
    from truenorth.core import specs
    from truenorth.server.app import create_app

    repositories, per_repository = size.pick(10, 2), size.pick(1000, 25)
    requests = size.pick(51, 5)
    with tempfile.TemporaryDirectory(prefix="tn-bench-b6-") as name:
        settings = config.ControllerConfig(
            repositories=tuple(
                config.RepositoryConfig(name=f"repo-{r}", url=f"https://git.example.test/org/repo-{r}.git")
                for r in range(repositories)
            ),
            data_dir=Path(name) / "data",
            tokens=(config.TokenConfig(name="dashboard", role="viewer", token=TOKEN),),
        )
        controller = facade.Controller(settings)
        try:
            started = time.perf_counter()
            keys = {repo.name: repo.store_key for repo in controller.repositories()}
            store = controller.store
            for r in range(repositories):
                repo_name = f"repo-{r}"
                declared = []
                for s in range(per_repository):
                    stack, engine = f"stack-{s:04d}", ENGINES[s % 3]
                    declared.append(specs.StackSpec(name=stack, engine=engine, path=f"stacks/{stack}"))
                    sync_state, health = _state(s)
                    run_id = store.record_run(
                        stack=stack,
                        repository=keys[repo_name],
                        revision=SHA,
                        kind="apply",
                        status="failed" if sync_state == "failed" else "succeeded",
                        summary={"add": s % 3, "change": 1, "destroy": 0},
                    )
                    store.upsert_stack(
                        repository=keys[repo_name],
                        name=stack,
                        engine=engine,
                        sync_state=sync_state,
                        health=health,
                        applied_revision=SHA,
                        last_run_id=run_id,
                        error="apply failed: exit status 1" if sync_state == "failed" else None,
                    )
                # What a reconcile pass does once it validated a revision declaring them.
                controller.loops[repo_name].repo.spec = specs.RepoSpec(stacks=tuple(declared))
            seeded = time.perf_counter() - started
            client = TestClient(create_app(controller, settings))  # no lifespan: no loop runs
            headers = {"Authorization": f"Bearer {TOKEN}"}
            times: dict[str, list[float]] = {label: [] for label in PATHS}
            for _ in range(requests):
                for label, path in PATHS.items():
                    began = time.perf_counter()
                    answer = client.get(path, headers=headers)
                    times[label].append(time.perf_counter() - began)
                    if answer.status_code != 200:
                        raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:500]}")
        finally:
            asyncio.run(controller.stop())
    stacks = repositories * per_repository
    return [
        Measurement(
            key=f"B6.{label}",
            title=f"API at {stacks:,} stacks: p50 of `GET {path}`",
            value=round(median(times[label]) * 1000, 1),
            unit="ms",
            goal=GOAL_MS,
            detail={
                "stacks": stacks,
                "requests": requests,
                "p95_ms": round(percentile(times[label], 0.95) * 1000, 1),
                "seeding_s": round(seeded, 1),
            },
        )
        for label, path in PATHS.items()
    ]
