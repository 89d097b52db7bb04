"""Copying a SQLite store into an empty PostgreSQL one (``truenorth store migrate``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from truenorth.core.outputs import Output
from truenorth.store import Store, StoreError, copying, sealing, sqlite_url

REPO = "https://git.example/team/infra.git#main"
MERGE_REQUEST = {
    "state": "open",
    "forge": "github",
    "project": "team/infra",
    "head_repo": "team/infra",
    "head_sha": "b" * 40,
    "head_ref": "feature",
    "target_branch": "main",
    "author": "ada",
    "author_association": "MEMBER",
    "title": "Widen the VPC",
    "url": "https://github.com/team/infra/pull/7",
    "merge_sha": None,
    "holder": "h",
}


def _history(url: str, sealer: sealing.Sealer) -> dict[str, object]:
    with Store.open(url, sealer=sealer) as store:
        plan = store.start_run(stack="web", repository=REPO, revision="a" * 40, kind="plan", holder="h")
        store.append_log(plan, [f"line {n}" for n in range(5)])
        store.finish_run(plan, status="succeeded", summary={"add": 1}, changes=[{"address": "x"}])
        apply = store.record_run(
            stack="web", repository=REPO, revision="a" * 40, kind="apply", status="succeeded", plan_id=plan
        )
        store.upsert_stack(
            repository=REPO, name="web", engine="terraform", sync_state="synced", last_run_id=apply
        )
        store.replace_outputs(
            repository=REPO,
            stack="web",
            outputs=[Output("url", "https://web", False), Output("password", "s3cret", True)],
            revision="a" * 40,
            run_id=apply,
        )
        store.put_merge_request(repository=REPO, number=7, order=None, **MERGE_REQUEST)
        store.set_drift_announced(repository=REPO, stack="web", revision="a" * 40, announced=True)
        return {"plan": plan, "apply": apply}


@pytest.mark.postgres
def test_a_sqlite_store_is_copied_whole_into_an_empty_postgresql_store(
    tmp_path: Path, postgres_url: str
) -> None:
    sealer = sealing.Sealer(sealing.new_key(), origin="the test")
    source = sqlite_url(tmp_path / "data")
    ids = _history(source, sealer)
    seen: list[tuple[str, int]] = []
    copied = copying.copy_store(source, postgres_url, progress=lambda table, n: seen.append((table, n)))
    assert copied.counts == {
        "runs": 2,
        "run_logs": 5,
        "stacks": 1,
        "stack_outputs": 2,
        "stack_files": 0,
        "merge_requests": 1,
        "drift_announcements": 1,
    }
    assert ("run_logs", 5) in seen
    with Store.open(postgres_url, sealer=sealer) as target, Store.open(source, sealer=sealer) as original:
        for run_id in ids.values():
            assert target.get_run(run_id) == original.get_run(run_id)  # type: ignore[arg-type]
        assert target.read_log(ids["plan"]) == original.read_log(ids["plan"])  # type: ignore[arg-type]
        assert target.get_stack(repository=REPO, name="web") == original.get_stack(
            repository=REPO, name="web"
        )
        outputs = target.stack_outputs(repository=REPO, stacks=["web"])["web"]
        assert {o.name: target.reveal(o) for o in outputs} == {"url": "https://web", "password": "s3cret"}
        # What the controller acts on and announced is the users' state: copied too.
        assert target.merge_request(repository=REPO, number=7) == original.merge_request(
            repository=REPO, number=7
        )
        assert target.drift_announced(repository=REPO, stack="web")
        # New runs get ids past the copied ones.
        fresh = target.start_run(stack="web", repository=REPO, revision="b" * 40, kind="plan")
        assert fresh > max(ids.values())  # type: ignore[type-var]
    with pytest.raises(StoreError, match="already holds runs"):
        copying.copy_store(source, postgres_url)


def test_copying_onto_itself_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "data")
    with pytest.raises(StoreError, match="onto itself"):
        copying.copy_store(url, url)
