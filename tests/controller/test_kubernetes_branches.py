"""Two branches of one URL, each with a Kubernetes stack called ``web``, in one cluster.

Pruning deletes what a stack's inventory lists; the inventory lives in the stack's state
folder. Each (URL, branch) has its own, so pruning on one branch never deletes the
objects the other branch applied.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer
from tests.support.layouts import state_dir
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks

pytestmark = [pytest.mark.slow]

SPEC = """\
stacks:
  - name: web
    engine: kubernetes
    path: k8s
    target: demo
    namespace: shop
    auto_apply: true
    wait: false
"""

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  from: {name}\n"
INVENTORY = "kubernetes-inventory.json"


async def settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(60):
        await ctl.wait_idle()


def config_map(api: KubeAPIServer, name: str) -> object:
    return api.object("v1", "ConfigMap", name, "shop")


async def test_pruning_on_one_branch_leaves_the_other_branchs_objects(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "main",
        {
            "truenorth.yaml": SPEC,
            "k8s/namespace.yaml": NAMESPACE,
            "k8s/a.yaml": CONFIG.format(name="main-a"),
            "k8s/b.yaml": CONFIG.format(name="main-b"),
        },
    )
    repo.git("checkout", "-q", "-b", "staging")
    repo.git("rm", "-q", "k8s/a.yaml", "k8s/b.yaml")
    repo.commit("staging", {"k8s/s.yaml": CONFIG.format(name="staging-s")})
    repo.git("checkout", "-q", "main")
    with KubeAPIServer() as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        settings = config.ControllerConfig(
            repositories=(
                config.RepositoryConfig(name="prod", url=repo.url, branch="main"),
                config.RepositoryConfig(name="stage", url=repo.url, branch="staging"),
            ),
            data_dir=tmp_path / "data",
            clusters={"demo": config.ClusterConfig(name="demo", kubeconfig=str(kubeconfig))},
        )
        ctl = facade.Controller(settings, clock=clocks.FakeClock())
        try:
            await ctl.start()
            await settle(ctl)
            for name in ("prod", "stage"):
                view = ctl.stack("web", repository=name)
                assert view.sync_state == "synced", view.error
            # Neither branch took the other's objects for its own to prune.
            assert config_map(api, "main-a") and config_map(api, "main-b") and config_map(api, "staging-s")

            # Staging applies last: were the inventory shared, it would now list staging's objects only.
            repo.git("checkout", "-q", "staging")
            repo.commit("staging 2", {"k8s/s.yaml": CONFIG.format(name="staging-s") + '  more: "x"\n'})
            repo.git("checkout", "-q", "main")
            assert ctl.push_received(repository_urls=[repo.url], ref="refs/heads/staging") == ["stage"]
            await settle(ctl)
            assert ctl.stack("web", repository="stage").applied_revision == repo.git("rev-parse", "staging")

            repo.git("rm", "-q", "k8s/b.yaml")
            dropped = repo.commit("drop main-b")
            assert ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main") == ["prod"]
            await settle(ctl)
            assert ctl.stack("web", repository="prod").applied_revision == dropped
            assert config_map(api, "main-b") is None  # pruned on main
            assert config_map(api, "main-a") is not None
            assert config_map(api, "staging-s") is not None  # staging's object is not main's to prune
            main_inventory = state_dir(tmp_path / "data", repo.url, "web") / INVENTORY
            staging_inventory = state_dir(tmp_path / "data", repo.url, "web", branch="staging") / INVENTORY
            assert "main-a" in main_inventory.read_text() and "staging-s" not in main_inventory.read_text()
            assert (
                "staging-s" in staging_inventory.read_text() and "main-a" not in staging_inventory.read_text()
            )
        finally:
            await ctl.stop()
