"""The controller drives the real Kubernetes engine against the API test server.

A stack's ``target`` is resolved through the controller's ``[clusters]`` configuration;
a commit is applied server-side, and a Deployment removed from Git is pruned.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks
from truenorth.controller.runs import registry
from truenorth.core import plans, runs, states
from truenorth.engines import protocol
from truenorth.engines.kubernetes.engine import KubernetesEngine

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
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: {greeting}\n"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: nginx:1.27
"""


async def settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(180):  # generous: kubectl on a busy machine
        await ctl.wait_idle()


async def test_commit_applied_to_the_cluster_and_removed_deployment_pruned(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "web v1",
        {
            "truenorth.yaml": SPEC,
            "k8s/namespace.yaml": NAMESPACE,
            "k8s/config.yaml": CONFIG.format(greeting="hello"),
            "k8s/web.yaml": DEPLOYMENT.format(name="web"),
            "k8s/worker.yaml": DEPLOYMENT.format(name="worker"),
        },
    )
    with KubeAPIServer() as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        settings = config.ControllerConfig(
            repositories=(config.RepositoryConfig(name="shop", url=repo.url),),
            data_dir=tmp_path / "data",
            clusters={"demo": config.ClusterConfig(name="demo", kubeconfig=str(kubeconfig))},
        )
        clock = clocks.FakeClock()
        ctl = facade.Controller(settings, clock=clock)
        try:
            await ctl.start()
            await settle(ctl)
            view = ctl.stack("web")
            assert (view.sync_state, view.applied_revision) == ("synced", repo.head()), view.error
            assert api.object("v1", "ConfigMap", "web-config", "shop")["data"] == {"greeting": "hello"}
            worker = api.object("apps/v1", "Deployment", "worker", "shop")
            assert worker is not None
            assert worker["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "truenorth"

            repo.commit("new greeting", {"k8s/config.yaml": CONFIG.format(greeting="hi")})
            repo.git("rm", "-q", "k8s/worker.yaml")
            second = repo.commit("drop the worker")
            assert ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main") == ["shop"]
            await settle(ctl)
            assert ctl.stack("web").applied_revision == second
            assert api.object("apps/v1", "Deployment", "worker", "shop") is None  # pruned
            assert api.object("apps/v1", "Deployment", "web", "shop") is not None
            assert api.object("v1", "ConfigMap", "web-config", "shop")["data"] == {"greeting": "hi"}
        finally:
            await ctl.stop()


class Textless:
    """The real Kubernetes engine with every text it reports removed: what reaches the
    stack can only have come through the typed ``health`` of its plans and results."""

    name = "kubernetes"

    def __init__(self) -> None:
        self.inner = KubernetesEngine()
        self.healths: list[states.Health | None] = []

    def plan(self, ctx: protocol.StackContext) -> plans.Plan:
        plan = self.inner.plan(ctx)
        self.healths.append(plan.health)
        return dataclasses.replace(plan, output="", meta={})

    def drift(self, ctx: protocol.StackContext) -> plans.Plan:
        return dataclasses.replace(self.inner.drift(ctx), output="", meta={})

    def apply(self, ctx: protocol.StackContext, plan: plans.Plan) -> runs.RunResult:
        result = self.inner.apply(ctx, plan)
        self.healths.append(result.health)
        return dataclasses.replace(result, output="", error="")

    def version(self) -> str | None:
        return self.inner.version()


async def test_health_reaches_the_stack_as_a_value_not_as_text(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "web v1",
        {
            "truenorth.yaml": SPEC,
            "k8s/namespace.yaml": NAMESPACE,
            "k8s/web.yaml": DEPLOYMENT.format(name="web"),
        },
    )
    engine = Textless()
    with KubeAPIServer() as api:
        api.pause("Deployment")  # its rollout never finishes: Progressing (the stack does not wait)
        settings = config.ControllerConfig(
            repositories=(config.RepositoryConfig(name="shop", url=repo.url),),
            data_dir=tmp_path / "data",
            clusters={
                "demo": config.ClusterConfig(name="demo", kubeconfig=str(api.kubeconfig(tmp_path / "kc")))
            },
        )
        ctl = facade.Controller(
            settings, clock=clocks.FakeClock(), engines=registry.EngineRegistry({"kubernetes": engine})
        )
        try:
            await ctl.start()
            await settle(ctl)
            view = ctl.stack("web")
            assert (view.sync_state, view.applied_revision) == ("synced", repo.head()), view.error
            # The plan saw nothing yet (Missing); the apply left the Deployment Progressing.
            assert engine.healths == [states.Health.MISSING, states.Health.PROGRESSING]
            assert view.health == states.Health.PROGRESSING
            record = ctl.store.get_stack(repository=ctl.runtime.sources.key(repo.url), name="web")
            assert record is not None and record.health == "Progressing"
        finally:
            await ctl.stop()
