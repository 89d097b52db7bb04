"""Engine behaviour that needs the test server's controls: statuses, faults, the wire itself."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from tests.engines.kubernetes import manifests as m
from tests.engines.kubernetes.harness import ServerCluster, Workspace
from tests.support.kubeapi import KubeAPIServer
from truenorth.core.plans import Action
from truenorth.core.runs import RunResult, RunStatus
from truenorth.core.states import Health
from truenorth.engines.kubernetes import KubernetesEngine
from truenorth.engines.kubernetes import inventory as inventory_file
from truenorth.engines.protocol import EngineError

NS = "team-a"


def _apply(ws: Workspace) -> RunResult:
    engine = KubernetesEngine()
    return engine.apply(ws.ctx(), engine.plan(ws.ctx()))


def test_apply_goes_bootstrap_then_wave_by_wave_with_server_side_apply(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    workspace.commit(
        {
            "app.yaml": [
                m.deployment("web", NS, wave=1),
                m.config_map("settings", NS, a="1"),
                m.service("web", NS),
                m.namespace(NS),
                m.deployment("migrate", NS, wave=-1),
            ]
        }
    )
    result = _apply(workspace)
    assert result.ok, result.error
    writes = [r for r in kubeapi.writes() if "dryRun" not in r.query]
    assert [r.path.rsplit("/", 1)[-1] for r in writes] == [NS, "migrate", "settings", "web", "web"]
    assert [r.path.split("/")[-2] for r in writes][-2:] == ["services", "deployments"]
    for request in writes:
        assert request.method == "PATCH" and request.content_type == "application/apply-patch+yaml"
        assert request.query["fieldManager"] == "truenorth" and request.query["force"] == "true"


def test_health_is_waited_for_and_a_timeout_fails_the_run(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    kubeapi.pause("Deployment")
    workspace.commit(
        {"app.yaml": [m.namespace(NS), m.deployment("web", NS), _with_wave(m.config_map("after", NS), 1)]},
        timeout="1s",
    )
    engine = KubernetesEngine()
    result = engine.apply(workspace.ctx(), engine.plan(workspace.ctx()))
    assert result.status is RunStatus.FAILED
    assert "timed out waiting for objects to be healthy" in result.error and "Progressing" in result.error
    assert kubeapi.object("v1", "ConfigMap", "after", NS) is None, "the next wave waits for the previous one"
    kubeapi.set_status(
        "apps/v1",
        "Deployment",
        "web",
        {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
        namespace=NS,
    )
    plan = engine.plan(workspace.ctx())
    assert plan.meta["object_health"][f"apps/Deployment/{NS}/web"]["status"] == "Healthy"
    assert plan.health is Health.MISSING, "the ConfigMap of the next wave was never applied"
    assert engine.apply(workspace.ctx(), plan).ok


def _with_wave(obj: dict, wave: int) -> dict:
    obj["metadata"]["annotations"] = {"truenorth.io/wave": str(wave)}
    return obj


def test_degraded_ends_the_wait_at_once(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    kubeapi.pause("Deployment")
    kubeapi.seed(m.namespace(NS))
    kubeapi.seed(m.deployment("web", NS))
    deadline_passed = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    kubeapi.set_status(
        "apps/v1",
        "Deployment",
        "web",
        {"observedGeneration": 1, "conditions": [deadline_passed]},
        namespace=NS,
    )
    workspace.commit({"app.yaml": [m.namespace(NS), m.deployment("web", NS)]})
    engine = KubernetesEngine()
    plan = engine.plan(workspace.ctx())
    started = time.monotonic()
    result = engine.apply(workspace.ctx(), plan)
    assert (
        result.status is RunStatus.FAILED
        and "degraded" in result.error
        and "progress deadline" in result.error
    )
    assert result.health is Health.DEGRADED
    assert "health: Degraded" in result.output  # for people reading the run's log
    assert time.monotonic() - started < 120, "Degraded must not wait for the 5 minute timeout"


def test_without_wait_the_apply_reports_health_and_succeeds(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    kubeapi.pause("Deployment")
    workspace.commit({"app.yaml": [m.namespace(NS), m.deployment("web", NS)]}, wait=False)
    result = _apply(workspace)
    assert result.status is RunStatus.SUCCEEDED
    assert result.health is Health.PROGRESSING


def test_a_cancel_while_waiting_cancels_the_run(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    kubeapi.pause("Deployment")
    workspace.commit({"app.yaml": [m.namespace(NS), m.deployment("web", NS)]})
    engine = KubernetesEngine()
    plan = engine.plan(workspace.ctx())
    ctx = workspace.ctx()
    ctx.cancel.set()
    result = engine.apply(ctx, plan)
    assert result.status is RunStatus.CANCELLED


def test_custom_resources_wait_for_their_crd_to_be_established(tmp_path: Path) -> None:
    with KubeAPIServer(crd_established_after_reads=3) as api:
        cluster = ServerCluster(api=api, kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"))
        ws = Workspace(tmp_path / "ws", settings={"kubeconfig": str(cluster.kubeconfig)})
        cron = {
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": {"name": "n", "namespace": NS},
            "spec": {"x": 1},
        }
        ws.commit({"app.yaml": [m.namespace(NS), m.crd(), cron]})
        result = _apply(ws)
        assert result.ok, result.error
        assert api.object("stable.example.com/v1", "CronTab", "n", NS) is not None
        crd_reads = [
            r for r in api.requests if r.method == "GET" and r.path.endswith("crontabs.stable.example.com")
        ]
        assert len(crd_reads) >= 3


def test_an_unknown_kind_is_a_clear_error(workspace: Workspace) -> None:
    workspace.commit(
        {
            "app.yaml": [
                {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": NS}}
            ]
        }
    )
    with pytest.raises(
        EngineError, match=r"does not serve kind Widget in example\.com/v1, and no CustomResourceDefinition"
    ):
        KubernetesEngine().plan(workspace.ctx())


def test_objects_without_a_namespace_go_to_the_option_or_the_context_namespace(
    workspace: Workspace, kubeapi: KubeAPIServer, tmp_path: Path
) -> None:
    bare = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare"}}
    workspace.commit({"app.yaml": [bare]})
    assert _apply(workspace).ok
    assert kubeapi.object("v1", "ConfigMap", "bare", "default") is not None
    kubeconfig = kubeapi.kubeconfig(tmp_path / "kc-ns", namespace="kube-public")
    ws = Workspace(tmp_path / "ws2", settings={"kubeconfig": str(kubeconfig)}, stack="other")
    ws.commit({"app.yaml": [bare]})
    assert _apply(ws).ok
    assert kubeapi.object("v1", "ConfigMap", "bare", "kube-public") is not None
    workspace.commit({"app.yaml": [m.namespace(NS), bare]}, namespace=NS)
    assert _apply(workspace).ok
    assert kubeapi.object("v1", "ConfigMap", "bare", NS) is not None


def test_applying_the_same_plan_twice_is_refused(workspace: Workspace) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS)]})
    engine = KubernetesEngine()
    plan = engine.plan(workspace.ctx())
    assert engine.apply(workspace.ctx(), plan).ok
    again = engine.apply(workspace.ctx(), plan)
    assert again.status is RunStatus.FAILED and "inventory changed since it was made" in again.error


def test_with_prune_off_nothing_is_deleted_and_the_inventory_keeps_it(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    workspace.commit(
        {"app.yaml": [m.namespace(NS), m.config_map("a", NS), m.config_map("b", NS)]}, prune=False
    )
    assert _apply(workspace).ok
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS)]})
    engine = KubernetesEngine()
    plan = engine.plan(workspace.ctx())
    assert Action.DELETE not in {c.action for c in plan.changes}
    assert f"not pruned core/ConfigMap/{NS}/b: prune is off" in plan.output
    assert engine.apply(workspace.ctx(), plan).ok
    assert kubeapi.object("v1", "ConfigMap", "b", NS) is not None
    assert "b" in {ref.name for ref in inventory_file.load(workspace.state_dir, stack="app").refs}


def test_a_failed_delete_stays_in_the_inventory(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS), m.config_map("b", NS)]})
    assert _apply(workspace).ok
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS)]})
    kubeapi.inject(method="DELETE", plural="configmaps", name="b", code=500, message="etcd is unhappy")
    result = _apply(workspace)
    assert result.status is RunStatus.FAILED and "prune failed" in result.error
    assert "b" in {ref.name for ref in inventory_file.load(workspace.state_dir, stack="app").refs}
    assert _apply(workspace).ok
    assert kubeapi.object("v1", "ConfigMap", "b", NS) is None


def test_an_api_error_quoting_a_secret_or_the_token_is_masked(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    canary = "tn-canary-webhook-4e2d"
    workspace.commit({"app.yaml": [m.namespace(NS), m.secret("creds", NS, string_data={"password": canary})]})
    kubeapi.inject(
        method="PATCH",
        plural="secrets",
        code=403,
        reason="Forbidden",
        message=f"admission webhook denied creds: password {canary} ({base64.b64encode(canary.encode()).decode()}) is weak; token {kubeapi.token}",
    )
    result = _apply(workspace)
    text = result.error + result.output
    assert "admission webhook denied" in text and "Forbidden" in text
    assert canary not in text and base64.b64encode(canary.encode()).decode() not in text
    assert str(kubeapi.token) not in text


def test_a_secret_value_that_is_also_a_name_is_masked_by_structure_in_the_plan(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    # Kustomize's secretGenerator: a file dbpass.txt holding "dbpass\n", in a Secret named dbpass.
    encoded = base64.b64encode(b"dbpass\n").decode()
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                m.secret("dbpass", NS, data={"dbpass.txt": encoded}),
                m.config_map("conf", NS, path="/var/run/secrets/dbpass/dbpass.txt"),
            ]
        }
    )
    plan = KubernetesEngine().plan(workspace.ctx())
    shown = plan.output + "".join(change.diff for change in plan.changes)
    assert f"core/Secret/{NS}/dbpass\n" in plan.output and "***" not in shown
    secret = next(change for change in plan.changes if change.resource_type == "Secret")
    assert "+  name: dbpass\n" in secret.diff and "+  dbpass.txt: (sensitive value)\n" in secret.diff
    assert secret.after is not None and secret.after["data"] == {"dbpass.txt": "(sensitive value)"}
    assert encoded not in shown
    # What can echo an object body still masks the value, in every form, line breaks kept.
    kubeapi.inject(
        method="PATCH",
        plural="secrets",
        code=422,
        reason="Invalid",
        message=f"denied: value {encoded} / dbpass\nsecond line",
    )
    result = KubernetesEngine().apply(workspace.ctx(), plan)
    assert result.status is RunStatus.FAILED
    assert "denied: value *** / ***\nsecond line" in result.error and encoded not in result.error


def test_drift_sees_an_object_deleted_out_of_band(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS)]})
    assert _apply(workspace).ok
    kubeapi.store.delete(kubeapi.kind("v1", "ConfigMap"), NS, "a", dry_run=False)
    drift = KubernetesEngine().drift(workspace.ctx())
    assert {c.address: c.action for c in drift.changes}[f"core/ConfigMap/{NS}/a"] is Action.CREATE
    assert drift.meta["object_health"][f"core/ConfigMap/{NS}/a"]["status"] == "Missing"
    assert drift.health is Health.MISSING and drift.meta["drift"] is True


def test_engine_errors_for_cluster_access(
    workspace: Workspace, kubeapi: KubeAPIServer, tmp_path: Path
) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS)]})
    engine = KubernetesEngine()
    with pytest.raises(EngineError, match="stack app: its target cluster 'test' is not configured here"):
        engine.plan(workspace.ctx(kubeconfig=""))
    exec_config = kubeapi.kubeconfig(
        tmp_path / "exec",
        user={"exec": {"command": "/bin/true", "apiVersion": "client.authentication.k8s.io/v1"}},
    )
    with pytest.raises(EngineError, match="exec credential plugin"):
        engine.plan(workspace.ctx(kubeconfig=str(exec_config)))
    wrong_token = kubeapi.kubeconfig(tmp_path / "wrong", user={"token": "not-the-token"})
    with pytest.raises(EngineError, match="401 Unauthorized"):
        engine.plan(workspace.ctx(kubeconfig=str(wrong_token)))
    port = kubeapi.url.rsplit(":", 1)[1]
    kubeapi.stop()
    with pytest.raises(EngineError, match=f"cannot reach the API server http://127.0.0.1:{port}"):
        engine.plan(workspace.ctx())


def test_a_damaged_inventory_blocks_the_plan(workspace: Workspace) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS)]})
    workspace.state_dir.mkdir(parents=True)
    (workspace.state_dir / inventory_file.FILENAME).write_text("{not json")
    with pytest.raises(EngineError, match=r"inventory .* is damaged"):
        KubernetesEngine().plan(workspace.ctx())


def test_https_cluster_with_its_own_ca(tmp_path: Path) -> None:
    with KubeAPIServer(tls_dir=tmp_path / "tls") as api:
        ws = Workspace(tmp_path / "ws", settings={"kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig"))})
        ws.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS)]})
        assert _apply(ws).ok
        assert api.object("v1", "ConfigMap", "a", NS) is not None


def test_version_reports_kubectl() -> None:
    version = KubernetesEngine().version()
    assert version is not None and version.startswith("v1.") and "kustomize" in version


def test_the_run_dir_keeps_the_rendered_objects_masked(workspace: Workspace) -> None:
    workspace.commit(
        {"app.yaml": [m.namespace(NS), m.secret("s", NS, string_data={"k": "tn-run-dir-canary"})]}
    )
    ctx = workspace.ctx()
    KubernetesEngine().plan(ctx)
    text = (ctx.run_dir / "rendered.yaml").read_text()
    assert "kind: Secret" in text and "tn-run-dir-canary" not in text


def test_a_forbidden_list_does_not_block_the_plan(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("a", NS)]})
    kubeapi.inject(method="GET", plural="configmaps", collection=True, code=403, reason="Forbidden", times=5)
    plan = KubernetesEngine().plan(workspace.ctx())
    assert plan.summary.add == 2 and plan.meta["unlisted"] == []
    listed = [r for r in kubeapi.requests if r.path.endswith("/configmaps") and r.method == "GET"]
    assert (
        listed
        and listed[0].query["labelSelector"]
        == "app.kubernetes.io/managed-by=truenorth,truenorth.io/stack=app"
    )
