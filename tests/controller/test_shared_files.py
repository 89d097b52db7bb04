"""Engine state files replicas share go through the store (``controller/runs/carrying.py``).

The real-parts test: two runtimes with their own data dirs on one PostgreSQL store, the
real Kubernetes engine against the API test server. What replica A applied is pruned by
replica B once it is removed from Git, because B's state dir gets A's inventory from
the store; with shared state off, B's plan does not prune (the test can fail). The
others use the in-test engine on SQLite (carrying needs only the store's table and a
shared-state setting) for the rules: names, links, previews, one controller. And
``truenorth store migrate`` takes a single controller's inventories into PostgreSQL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.controller.engines import STATE_FILE, FakeEngine
from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.controller import errors
from truenorth.controller.local import storing
from truenorth.controller.runs import executing, registry, runtime, sources, validating
from truenorth.core import plans, runs
from truenorth.engines import protocol
from truenorth.engines.kubernetes import inventory
from truenorth.engines.kubernetes.engine import KubernetesEngine
from truenorth.store import database

SPEC = """\
stacks:
  - name: web
    engine: kubernetes
    path: k8s
    target: demo
    namespace: shop
    wait: false
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  greeting: hello\n"


def _replica(data_dir: Path, *, store_url: str, kubeconfig: Path, shared: bool) -> runtime.Runtime:
    rt = runtime.open_runtime(
        data_dir,
        store_url=store_url,
        engines=registry.EngineRegistry({"kubernetes": KubernetesEngine()}),
        clusters=lambda stack: {"kubeconfig": str(kubeconfig)},
    )
    rt.shared_state_url = store_url if shared else None
    return rt


def _plan(rt: runtime.Runtime, url: str, **options: bool) -> tuple[sources.Revision, executing.Outcome]:
    revision = rt.sources.checkout(url)
    stack = validating.validate_checkout(revision.checkout).stack("web")
    outcome = executing.plan_stack(rt, revision, stack, **options)  # type: ignore[arg-type]
    assert outcome.plan is not None, outcome.result.error
    return revision, outcome


def _apply(rt: runtime.Runtime, revision: sources.Revision, planned: executing.Outcome) -> None:
    stack = validating.validate_checkout(revision.checkout).stack("web")
    assert planned.plan is not None
    outcome = executing.apply_stack(rt, revision, stack, planned.plan, plan_run_id=planned.run_id)
    assert outcome.result.status is runs.RunStatus.SUCCEEDED, outcome.result.error


def _deletes(plan: plans.Plan | None) -> list[str]:
    assert plan is not None
    return [change.name for change in plan.changes if change.action is plans.Action.DELETE]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "not-shared"])
def test_what_replica_a_applied_is_pruned_by_replica_b(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    shared: bool,
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "web and worker",
        {
            "truenorth.yaml": SPEC,
            "k8s/namespace.yaml": NAMESPACE,
            "k8s/web.yaml": CONFIG.format(name="web-config"),
            "k8s/worker.yaml": CONFIG.format(name="worker-config"),
        },
    )
    with KubeAPIServer() as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        a = _replica(tmp_path / "a", store_url=postgres_url, kubeconfig=kubeconfig, shared=shared)
        b = _replica(tmp_path / "b", store_url=postgres_url, kubeconfig=kubeconfig, shared=shared)
        try:
            revision, planned = _plan(a, repo.url)
            _apply(a, revision, planned)
            assert api.object("v1", "ConfigMap", "worker-config", "shop") is not None
            assert api.object("v1", "ConfigMap", "web-config", "shop") is not None
            kept = b.store.stack_files(repository=revision.key, stack="web")
            assert [item.name for item in kept] == ([inventory.FILENAME] if shared else [])

            repo.git("rm", "-q", "k8s/worker.yaml")
            repo.commit("drop the worker")
            revision, planned = _plan(b, repo.url)
            if not shared:
                # B never saw A's inventory: nothing to prune, the worker stays behind.
                assert _deletes(planned.plan) == []
                _apply(b, revision, planned)
                assert api.object("v1", "ConfigMap", "worker-config", "shop") is not None
                return
            assert _deletes(planned.plan) == ["worker-config"]
            _apply(b, revision, planned)
            assert api.object("v1", "ConfigMap", "worker-config", "shop") is None  # pruned by B
            assert api.object("v1", "ConfigMap", "web-config", "shop") is not None

            (stored,) = b.store.stack_files(repository=revision.key, stack="web")
            listed = [item["name"] for item in json.loads(stored.content)["objects"]]
            assert "worker-config" not in listed and "web-config" in listed
            # A's own copy is older than the store's: the store's wins, A finds nothing to do.
            _, again = _plan(a, repo.url)
            assert again.plan is not None and not again.plan.has_changes
            state = a.layout.state("web", repository=revision.key)
            assert (state / inventory.FILENAME).read_bytes() == stored.content
            assert (state / inventory.FILENAME).stat().st_mode & 0o777 == 0o600
        finally:
            a.close()
            b.close()


# --------------------------------------------------------------- the rules, on SQLite


@dataclass
class Sharing(FakeEngine):
    """The in-test engine, sharing its state file (or whatever ``names`` says)."""

    shared_files: tuple[str, ...] = (STATE_FILE,)
    raise_after_write: bool = False

    def apply(self, ctx: protocol.StackContext, plan: plans.Plan) -> runs.RunResult:
        result = super().apply(ctx, plan)
        if self.raise_after_write:
            raise RuntimeError("the engine crashed after writing its state")
        return result


@dataclass
class Setup:
    rt: runtime.Runtime
    engine: Sharing
    repo: GitRepo

    def plan(self, **options: bool) -> executing.Outcome:
        revision = self.rt.sources.checkout(self.repo.url)
        stack = validating.validate_checkout(revision.checkout).stack("app")
        return executing.plan_stack(self.rt, revision, stack, **options)  # type: ignore[arg-type]

    def apply(self) -> executing.Outcome:
        planned = self.plan()
        assert planned.plan is not None, planned.result.error
        revision = self.rt.sources.checkout(self.repo.url, fetch=False)
        stack = validating.validate_checkout(revision.checkout).stack("app")
        return executing.apply_stack(self.rt, revision, stack, planned.plan, plan_run_id=planned.run_id)

    @property
    def key(self) -> str:
        return self.rt.sources.key(self.repo.url)

    @property
    def state(self) -> Path:
        return self.rt.layout.state("app", repository=self.key)

    def stored(self) -> dict[str, bytes]:
        return {
            item.name: item.content for item in self.rt.store.stack_files(repository=self.key, stack="app")
        }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "app",
        {"truenorth.yaml": "stacks:\n  - name: app\n    engine: terraform\n    path: app\n", "app/x": "1\n"},
    )
    engine = Sharing()
    rt = runtime.open_runtime(tmp_path / "data", engines=registry.EngineRegistry({"terraform": engine}))
    rt.shared_state_url = "postgresql:///not-used-here"  # carrying only asks whether state is shared
    try:
        yield Setup(rt=rt, engine=engine, repo=repo)
    finally:
        rt.close()


@pytest.mark.parametrize("name", ["../escape", "state/file", "..", ".hidden"])
def test_a_shared_file_name_with_a_folder_or_dots_is_refused(setup: Setup, name: str) -> None:
    setup.engine.shared_files = (name,)
    outcome = setup.plan()
    assert outcome.result.status is runs.RunStatus.FAILED
    assert "names a shared file wrongly" in outcome.result.error
    assert "plain file name" in outcome.result.error
    assert setup.engine.calls == [], "the engine never ran"
    assert not (setup.state.parent / "escape").exists()


def test_a_link_where_a_shared_file_belongs_is_refused_and_never_followed(
    setup: Setup, tmp_path: Path
) -> None:
    assert setup.apply().result.status is runs.RunStatus.SUCCEEDED
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not truenorth's\n")
    (setup.state / STATE_FILE).unlink()
    (setup.state / STATE_FILE).symlink_to(elsewhere)
    outcome = setup.plan()
    assert outcome.result.status is runs.RunStatus.FAILED
    assert "is not a regular file (a link?): refused" in outcome.result.error
    assert elsewhere.read_text() == "not truenorth's\n"


def test_the_store_copy_replaces_a_stale_local_one(setup: Setup) -> None:
    assert setup.apply().result.status is runs.RunStatus.SUCCEEDED
    applied = setup.stored()[STATE_FILE]
    assert (setup.state / STATE_FILE).read_bytes() == applied
    (setup.state / STATE_FILE).write_text('{"digest": "stale"}')
    outcome = setup.plan()
    assert outcome.plan is not None and not outcome.plan.has_changes, "planned from the store's copy"
    assert (setup.state / STATE_FILE).read_bytes() == applied


def test_a_local_file_the_store_lacks_is_kept_and_put_into_the_store(setup: Setup) -> None:
    setup.rt.shared_state_url = None
    assert setup.apply().result.status is runs.RunStatus.SUCCEEDED
    assert setup.stored() == {}, "one controller: the state dir is the only copy"
    setup.rt.shared_state_url = "postgresql:///not-used-here"
    outcome = setup.plan()
    assert outcome.plan is not None and not outcome.plan.has_changes
    assert setup.stored() == {STATE_FILE: (setup.state / STATE_FILE).read_bytes()}


def test_the_file_is_put_back_also_when_the_engine_raised(setup: Setup) -> None:
    setup.engine.raise_after_write = True
    outcome = setup.apply()
    assert outcome.result.status is runs.RunStatus.FAILED
    assert "the engine crashed after writing its state" in outcome.result.error
    assert setup.stored() == {STATE_FILE: (setup.state / STATE_FILE).read_bytes()}


def test_a_preview_reads_the_store_copy_but_never_replaces_a_local_file_nor_writes(setup: Setup) -> None:
    assert setup.apply().result.status is runs.RunStatus.SUCCEEDED
    applied = setup.stored()[STATE_FILE]
    (setup.state / STATE_FILE).unlink()
    preview = setup.plan(record_state=False)
    assert preview.plan is not None and not preview.plan.has_changes, "read from the store"
    assert (setup.state / STATE_FILE).read_bytes() == applied
    # A local file an operation may be writing is left alone, and nothing goes to the store.
    (setup.state / STATE_FILE).write_text('{"digest": "being written"}')
    preview = setup.plan(record_state=False)
    assert preview.plan is not None and preview.plan.has_changes
    assert (setup.state / STATE_FILE).read_text() == '{"digest": "being written"}'
    assert setup.stored() == {STATE_FILE: applied}


def test_with_one_controller_the_store_is_never_asked(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    setup.rt.shared_state_url = None

    def refuse(**kwargs: object) -> None:
        raise AssertionError("the store was asked about shared files with one controller")

    for method in ("stack_files", "put_stack_file", "delete_stack_file"):
        monkeypatch.setattr(setup.rt.store, method, refuse)
    assert setup.apply().result.status is runs.RunStatus.SUCCEEDED
    assert json.loads((setup.state / STATE_FILE).read_text())["digest"]
    assert os.listdir(setup.state) == [STATE_FILE]


# --------------------------------------------------------------- store migrate


@pytest.mark.postgres
def test_store_migrate_takes_the_data_dirs_inventories_along(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    data_dir = tmp_path / "data"
    rt = runtime.open_runtime(data_dir)
    key = "https://git.example/team/shop.git#main"
    try:
        for name, engine in (("web", "kubernetes"), ("api", "kubernetes"), ("net", "terraform")):
            rt.store.upsert_stack(repository=key, name=name, engine=engine, sync_state="synced")
        web = rt.layout.state("web", repository=key)
        web.mkdir(parents=True)
        (web / inventory.FILENAME).write_bytes(b'{"version": 1, "objects": []}\n')
        net = rt.layout.state("net", repository=key)
        net.mkdir(parents=True)
        (net / "terraform.tfstate").write_text("{}")  # not a shared file (another helper's pg backend)
        api = rt.layout.state("api", repository=key)
        api.mkdir(parents=True)
        (api / inventory.FILENAME).symlink_to(tmp_path / "elsewhere")
    finally:
        rt.close()
    with pytest.raises(errors.ControllerError, match=r"nothing was copied: .* is a symbolic link: refused"):
        storing.migrate_store(data_dir=data_dir, target_url=postgres_url)
    (api / inventory.FILENAME).unlink()  # api never applied: no inventory

    counts = storing.migrate_store(data_dir=data_dir, target_url=postgres_url)
    assert counts["stack_files"] == 1 and counts["stacks"] == 3
    with database.Store.open(postgres_url) as target:
        (kept,) = target.stack_files(repository=key, stack="web")
        assert (kept.name, kept.content) == (inventory.FILENAME, b'{"version": 1, "objects": []}\n')
        assert target.stack_files(repository=key, stack="net") == []
