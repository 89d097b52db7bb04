"""The API over the real controller's read side and a real SQLite store: names, pages, queries.

The controller is built but not started (no loop runs): the store is filled directly and
the repositories' declared stacks are set as a reconcile pass would, so that what is
checked is reading alone. The statement counts are the point of the overview's design:
one page costs the same few queries for 10 stacks as for 200 (it used to read one run
per stack of the installation, for every page and every ``/metrics`` scrape).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from truenorth import config
from truenorth.controller.actions import facade
from truenorth.core import specs
from truenorth.server.app import create_app
from truenorth.store.records import StackBrief

TOKEN = "tn-overview-viewer-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
SHA = "a" * 40


def settings(data_dir: Path) -> config.ControllerConfig:
    return config.ControllerConfig(
        repositories=(
            config.RepositoryConfig(name="infra", url="https://git.example.test/org/infra.git"),
            config.RepositoryConfig(name="other", url="https://git.example.test/org/other.git", branch="dev"),
        ),
        data_dir=data_dir,
        tokens=(config.TokenConfig(name="dashboard", role="viewer", token=TOKEN),),
    )


class Site:
    """A built (not started) controller, its app and a client; statements counted on demand."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = settings(data_dir)
        self.ctl = facade.Controller(self.settings)
        self.client = TestClient(create_app(self.ctl, self.settings))  # no lifespan: no loop runs
        self.keys = {repo.name: repo.store_key for repo in self.ctl.repositories()}

    def record(
        self,
        repository: str,
        name: str,
        *,
        sync_state: str = "synced",
        health: str = "Healthy",
        **fields: object,
    ) -> int:
        """A stack with a finished apply as its last run; the run's id."""
        store, key = self.ctl.store, self.keys[repository]
        run_id = store.record_run(stack=name, repository=key, revision=SHA, kind="apply", status="succeeded")
        store.upsert_stack(
            repository=key,
            name=name,
            engine="terraform",
            sync_state=sync_state,
            health=health,
            applied_revision=SHA,
            last_run_id=run_id,
            **fields,
        )
        return run_id

    def declare(self, repository: str, *stacks: tuple[str, str]) -> None:
        """What a reconcile pass does once it validated a revision declaring ``stacks`` (name, engine)."""
        self.ctl.loops[repository].repo.spec = specs.RepoSpec(
            stacks=tuple(
                specs.StackSpec(name=name, engine=engine, path=f"stacks/{name}") for name, engine in stacks
            )
        )

    def statements(self, path: str) -> tuple[int, str]:
        """How many SQL statements answering ``path`` took (transaction control not counted), and the answer."""
        seen: list[str] = []

        def count(*args: object) -> None:
            if not str(args[2]).upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                seen.append(str(args[2]))

        sa.event.listen(sa.Engine, "before_cursor_execute", count)
        try:
            answer = self.client.get(path, headers=HEADERS)
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", count)
        assert answer.status_code == 200, answer.text
        return len(seen), answer.text

    def close(self) -> None:
        asyncio.run(self.ctl.stop())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    built = Site(tmp_path / "data")
    try:
        yield built
    finally:
        built.close()


def names(site: Site, query: str) -> list[str]:
    answer = site.client.get(f"/api/v1/stacks{query}", headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return [item["name"] for item in answer.json()["items"]]


def test_stacks_are_declared_ones_with_their_records_then_recorded_ones_by_name(site: Site) -> None:
    # infra has a valid revision declaring zeta, alpha and beta; "gone" was removed from it.
    site.declare("infra", ("zeta", "terraform"), ("alpha", "terraform"), ("beta", "ansible"))
    alpha_run = site.record("infra", "alpha")
    site.record("infra", "zeta", sync_state="failed", health="Degraded", error="boom")
    site.record("infra", "gone")
    # other has no valid revision yet: what it recorded shows, by name.
    site.record("other", "b-stack", sync_state="pending-approval")
    site.record("other", "a-stack")

    body = site.client.get("/api/v1/stacks", headers=HEADERS).json()
    assert [(s["repository"], s["name"]) for s in body["items"]] == [
        ("infra", "zeta"),
        ("infra", "alpha"),
        ("infra", "beta"),
        ("other", "a-stack"),
        ("other", "b-stack"),
    ]
    assert body["total"] == 5 and body["source_errors"] == []
    zeta, alpha, beta = body["items"][:3]
    assert (zeta["sync_state"], zeta["health"], zeta["error"]) == ("failed", "Degraded", "boom")
    assert alpha["last_run"]["id"] == alpha_run
    assert (alpha["last_run"]["kind"], alpha["last_run"]["status"]) == ("apply", "succeeded")
    assert alpha["last_run"]["started_at"].endswith("+00:00") and alpha["applied_revision"] == SHA
    assert (beta["engine"], beta["sync_state"], beta["health"], beta["last_run"]) == (
        "ansible",
        "unknown",
        "Unknown",
        None,
    )
    assert "#" not in str([s["repository"] for s in body["items"]])  # names, never store keys

    assert names(site, "?sync_state=unknown") == ["beta"]
    assert names(site, "?health=DEGRADED") == ["zeta"]
    assert names(site, "?engine=ansible") == ["beta"]
    assert names(site, "?repository=other") == ["a-stack", "b-stack"]
    assert names(site, "?q=STACK") == ["a-stack", "b-stack"]
    assert names(site, "?limit=2&offset=1") == ["alpha", "beta"]
    assert names(site, "?repository=nope") == []
    page = site.client.get("/api/v1/stacks?sync_state=synced&limit=1", headers=HEADERS).json()
    assert ([s["name"] for s in page["items"]], page["total"]) == (["alpha"], 2)

    one = site.client.get("/api/v1/stacks/beta", headers=HEADERS).json()
    # One stack: its inputs, outputs and dependents too.
    assert one == {**beta, "inputs": [], "outputs": [], "dependents": []}
    assert site.client.get("/api/v1/stacks/gone", headers=HEADERS).status_code == 404

    metrics = site.client.get("/metrics").text
    assert 'truenorth_stacks{health="Unknown",sync_state="unknown"} 1.0' in metrics
    assert 'truenorth_stacks{health="Healthy",sync_state="synced"} 2.0' in metrics  # alpha, a-stack
    assert 'truenorth_stacks{health="Degraded",sync_state="failed"} 1.0' in metrics
    assert 'truenorth_stacks{health="Healthy",sync_state="pending-approval"} 1.0' in metrics


def test_runs_show_repository_names(site: Site) -> None:
    site.declare("infra", ("web", "terraform"))
    web_run = site.record("infra", "web")
    other_run = site.record("other", "web")

    everything = site.client.get("/api/v1/runs", headers=HEADERS).json()
    assert {(r["id"], r["repository"]) for r in everything["items"]} == {
        (web_run, "infra"),
        (other_run, "other"),
    }
    only = site.client.get("/api/v1/runs?repository=other", headers=HEADERS).json()
    assert [r["id"] for r in only["items"]] == [other_run] and only["total"] == 1
    assert site.client.get(f"/api/v1/runs/{other_run}", headers=HEADERS).json()["repository"] == "other"
    assert site.client.get("/api/v1/stacks/web/runs", headers=HEADERS).status_code == 422  # in both
    mine = site.client.get("/api/v1/stacks/web/runs?repository=infra", headers=HEADERS).json()
    assert [(r["id"], r["repository"]) for r in mine["items"]] == [(web_run, "infra")]
    log = site.client.get(f"/api/v1/runs/{web_run}/log", headers=HEADERS).json()
    assert log == {"run_id": web_run, "lines": [], "next_after": 0, "finished": True}
    assert site.client.get("/api/v1/runs?status=nonsense", headers=HEADERS).status_code == 422


@pytest.fixture(scope="module", params=[True, False], ids=["declared", "recorded-only"])
def sized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Site]]:
    """Two sites, with 10 and with 200 stacks, two in three failed; declared in a valid revision or not."""
    sites = []
    try:
        for size in (10, 200):
            site = Site(tmp_path_factory.mktemp(f"size-{size}") / "data")
            sites.append(site)
            for n in range(size):
                site.record("infra", f"stack-{n:03d}", sync_state="failed" if n % 3 else "synced")
            if request.param:
                site.declare("infra", *((f"stack-{n:03d}", "terraform") for n in range(size)))
        yield sites
    finally:
        for site in sites:
            site.close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stacks?limit=50",
        "/api/v1/stacks?limit=50&offset=5&sync_state=failed",
        "/api/v1/stacks?limit=50&health=healthy&q=stack",
        "/api/v1/stacks/stack-007",
        "/metrics",
    ],
)
def test_a_page_costs_the_same_few_statements_for_10_stacks_as_for_200(sized: list[Site], path: str) -> None:
    counts = []
    for site in sized:
        count, text = site.statements(path)
        assert '"items":[]' not in text and ("stack-00" in text or path == "/metrics")
        counts.append(count)
    # One stack's answer also reads its recorded outputs (and, when it has inputs, its plan).
    budget = 4 if path.startswith("/api/v1/stacks/") else 3
    assert counts[0] == counts[1] <= budget, counts


def test_a_failing_store_is_a_503_that_names_the_state_database(site: Site) -> None:
    site.ctl.store.close()
    for path in ("/api/v1/stacks", "/api/v1/runs", "/api/v1/runs/1", "/api/v1/runs/1/log"):
        answer = site.client.get(path, headers=HEADERS)
        assert answer.status_code == 503, path
        assert answer.json()["detail"].startswith("state database: ")
    assert site.client.get("/metrics").status_code == 200  # the scrape goes on without the gauge


def test_a_stack_names_its_dependents_from_the_whole_spec(site: Site) -> None:
    # 700 declared stacks: the last dependent is past the first 500 (what the page used to
    # read to find them); the answer takes no more statements for it.
    stacks = [specs.StackSpec(name="core", engine="terraform", path="stacks/core")]
    stacks += [
        specs.StackSpec(
            name=f"app-{n:03d}",
            engine="terraform",
            path=f"stacks/app-{n:03d}",
            depends_on=("core",) if n % 100 == 99 else (),
        )
        for n in range(700)
    ]
    site.ctl.loops["infra"].repo.spec = specs.RepoSpec(stacks=tuple(stacks))
    site.record("infra", "core")
    count, text = site.statements("/api/v1/stacks/core?repository=infra")
    found = site.client.get("/api/v1/stacks/core?repository=infra", headers=HEADERS).json()
    assert found["dependents"] == [f"app-{n:03d}" for n in range(99, 700, 100)]
    assert found["depends_on"] == []
    leaf = site.client.get("/api/v1/stacks/app-699?repository=infra", headers=HEADERS).json()
    assert (leaf["depends_on"], leaf["dependents"]) == (["core"], [])
    assert count <= 4, text


def test_a_filtered_page_and_metrics_read_only_the_states_they_need(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200 declared stacks, 2 of them failed; "fresh" is declared and never recorded, "gone"
    # is recorded (failed) and no longer declared: the answers must not change for them.
    declared = [(f"stack-{n:03d}", "terraform") for n in range(200)]
    site.declare("infra", *declared, ("fresh", "ansible"))
    for n in range(200):
        site.record("infra", f"stack-{n:03d}", sync_state="failed" if n in (7, 150) else "synced")
    site.record("infra", "gone", sync_state="failed", health="Degraded")
    site.record("other", "solo", sync_state="failed", health="Degraded")
    store = site.ctl.store
    read: list[int] = []
    original = store.stack_states

    def spied(**kwargs: Any) -> list[StackBrief]:
        found = original(**kwargs)
        read.append(len(found))
        return found

    monkeypatch.setattr(store, "stack_states", spied)
    body = site.client.get("/api/v1/stacks?sync_state=failed", headers=HEADERS).json()
    assert ([s["name"] for s in body["items"]], body["total"]) == (["stack-007", "stack-150", "solo"], 3)
    assert read == [4]  # the failed ones ("gone" too), never the states of all 203
    assert names(site, "?health=degraded") == ["solo"]
    assert names(site, "?sync_state=unknown") == ["fresh"]  # every state is read for this one

    read.clear()
    metrics = site.client.get("/metrics").text
    assert read == []  # counted by the store
    assert 'truenorth_stacks{health="Healthy",sync_state="synced"} 198.0' in metrics
    assert 'truenorth_stacks{health="Healthy",sync_state="failed"} 2.0' in metrics
    assert 'truenorth_stacks{health="Degraded",sync_state="failed"} 1.0' in metrics  # solo, not gone
    assert 'truenorth_stacks{health="Unknown",sync_state="unknown"} 1.0' in metrics  # fresh
