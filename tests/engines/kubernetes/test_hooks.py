"""Hooks (Argo CD's and truenorth's annotations) and ``create_namespace``, against the API test server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.engines.kubernetes import manifests as m
from tests.engines.kubernetes.harness import Workspace
from tests.support import snapshots
from tests.support.kubeapi import KubeAPIServer
from truenorth.core import specs
from truenorth.core.plans import Action
from truenorth.core.runs import RunResult, RunStatus
from truenorth.engines.kubernetes import KubernetesEngine
from truenorth.engines.kubernetes import inventory as inventory_file
from truenorth.engines.protocol import EngineError

pytestmark = [pytest.mark.slow]

NS = "team-a"


def job(
    name: str, hook: str, *, policy: str | None = None, owner: str = "argocd.argoproj.io", **extra: Any
) -> dict:
    annotations = {f"{owner}/hook": hook}
    if policy is not None:
        annotations[f"{owner}/hook-delete-policy"] = policy
    metadata: dict[str, Any] = {"name": name, "namespace": NS, "annotations": annotations}
    if name.endswith("-"):
        metadata["generateName"] = metadata.pop("name")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 1,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": m.IMAGE, "args": [extra.get("arg", "go")]}],
                }
            },
        },
    }


def _apply(ws: Workspace) -> RunResult:
    engine = KubernetesEngine()
    return engine.apply(ws.ctx(), engine.plan(ws.ctx()))


def _writes(api: KubeAPIServer) -> list[str]:
    """``VERB plural/name`` of every real (not dry-run) write, in order."""
    return [
        f"{r.method} {r.path.split('/')[-2]}/{r.path.rsplit('/', 1)[-1]}"
        for r in api.writes()
        if "dryRun" not in r.query
    ]


def test_presync_runs_first_and_postsync_after_health_outside_the_inventory(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                m.deployment("web", NS),
                m.config_map("settings", NS, a="1"),
                job("migrate", "PreSync", policy="HookSucceeded"),
                job("smoke", "PostSync", owner="truenorth.io"),
            ]
        }
    )
    engine = KubernetesEngine()
    plan = engine.plan(workspace.ctx())
    assert {c.address for c in plan.changes} == {
        f"core/Namespace/_cluster/{NS}",
        f"apps/Deployment/{NS}/web",
        f"core/ConfigMap/{NS}/settings",
    }, "hooks are not part of the diff"
    assert [h["address"] for h in plan.meta["hooks"]] == [f"batch/Job/{NS}/migrate", f"batch/Job/{NS}/smoke"]
    assert f"hook PreSync batch/Job/{NS}/migrate (delete: HookSucceeded)" in plan.output
    assert f"hook PostSync batch/Job/{NS}/smoke (delete: BeforeHookCreation)" in plan.output
    result = engine.apply(workspace.ctx(), plan)
    assert result.ok, result.error
    assert _writes(kubeapi) == [
        f"PATCH namespaces/{NS}",
        "PATCH jobs/migrate",
        "DELETE jobs/migrate",
        "PATCH configmaps/settings",
        "PATCH deployments/web",
        "PATCH jobs/smoke",
    ]
    assert kubeapi.object("batch/v1", "Job", "migrate", NS) is None, "HookSucceeded deletes it"
    smoke = kubeapi.object("batch/v1", "Job", "smoke", NS)
    assert smoke is not None and smoke["metadata"]["labels"]["truenorth.io/hook-of"] == "app"
    assert "truenorth.io/stack" not in smoke["metadata"]["labels"]
    assert f"hook PostSync: {f'batch/Job/{NS}/smoke'} completed (the job completed)" in result.output
    recorded = {ref.address for ref in inventory_file.load(workspace.state_dir, stack="app").refs}
    assert not any("Job" in address for address in recorded), recorded
    again = engine.plan(workspace.ctx())
    assert not again.has_changes and not again.meta["unlisted"], again.output
    # The next apply replaces the kept PostSync Job (its default policy), template change and all.
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                m.deployment("web", NS),
                m.config_map("settings", NS, a="2"),
                job("smoke", "PostSync", owner="truenorth.io", arg="again"),
            ]
        }
    )
    kubeapi.requests.clear()
    second = _apply(workspace)
    assert second.ok, second.error
    assert _writes(kubeapi)[-2:] == ["DELETE jobs/smoke", "PATCH jobs/smoke"]


def test_a_failed_presync_hook_stops_the_apply_and_runs_syncfail(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    kubeapi.fail_runs("Job", "migrate")
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                m.config_map("settings", NS, a="1"),
                job("migrate", "PreSync", policy="HookFailed"),
                job("notify", "SyncFail", policy="HookSucceeded"),
                job("smoke", "PostSync"),
            ]
        }
    )
    result = _apply(workspace)
    assert result.status is RunStatus.FAILED
    assert "(PreSync hooks)" in result.error and "Job has reached the specified backoff limit" in result.error
    assert kubeapi.object("v1", "ConfigMap", "settings", NS) is None, "nothing applied after a failed PreSync"
    assert _writes(kubeapi) == [
        f"PATCH namespaces/{NS}",
        "PATCH jobs/migrate",
        "DELETE jobs/migrate",
        "PATCH jobs/notify",
        "DELETE jobs/notify",
    ]
    assert f"hook PreSync: batch/Job/{NS}/migrate failed" in result.output
    assert f"hook SyncFail: batch/Job/{NS}/notify completed" in result.output


def test_an_apply_failure_runs_syncfail_and_a_failed_postsync_fails_the_run(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    kubeapi.fail_runs("Job", "smoke")
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                m.config_map("settings", NS),
                job("smoke", "PostSync"),
                job("rescue", "SyncFail"),
            ]
        }
    )
    result = _apply(workspace)
    assert result.status is RunStatus.FAILED and "(PostSync hooks)" in result.error
    assert kubeapi.object("batch/v1", "Job", "smoke", NS) is not None, (
        "BeforeHookCreation keeps a failed hook"
    )
    rescue = kubeapi.object("batch/v1", "Job", "rescue", NS)
    assert rescue is not None and rescue["status"]["succeeded"] == 1


def test_a_hook_never_replaces_an_object_it_does_not_own(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), m.config_map("settings", NS)]})
    assert _apply(workspace).ok
    foreign = job("migrate", "PreSync")
    foreign["metadata"].pop("annotations")
    kubeapi.seed(foreign)
    workspace.commit(
        {"app.yaml": [m.namespace(NS), m.config_map("settings", NS, a="1"), job("migrate", "PreSync")]}
    )
    result = _apply(workspace)
    assert result.status is RunStatus.FAILED
    assert "was not made by truenorth for stack app: refusing to replace it" in result.error
    assert kubeapi.object("batch/v1", "Job", "migrate", NS) is not None


def test_generate_name_hooks_get_a_fresh_name_and_skip_is_never_applied(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    skipped = m.config_map("manual", NS)
    skipped["metadata"]["annotations"] = {"argocd.argoproj.io/hook": "Skip"}
    workspace.commit(
        {"app.yaml": [m.namespace(NS), m.config_map("a", NS), job("schema-migrate-", "PreSync"), skipped]}
    )
    plan = KubernetesEngine().plan(workspace.ctx())
    assert f"hook PreSync batch/Job/{NS}/schema-migrate-* (delete: BeforeHookCreation)" in plan.output
    assert f"skipped core/ConfigMap/{NS}/manual: Skip: never applied" in plan.output
    assert _apply(workspace).ok
    assert _apply(workspace).ok
    names = sorted(obj["metadata"]["name"] for obj in kubeapi.objects("batch/v1", "Job", NS))
    assert len(names) == 2 and all(name.startswith("schema-migrate-") and len(name) == 20 for name in names)
    assert kubeapi.object("v1", "ConfigMap", "manual", NS) is None


def test_hook_plan_text_snapshot(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    skipped = m.config_map("manual", NS)
    skipped["metadata"]["annotations"] = {"argocd.argoproj.io/hook": "PreDelete"}
    workspace.commit(
        {
            "app.yaml": [
                m.config_map("settings", NS, a="1"),
                job("migrate", "PreSync", policy="HookSucceeded,BeforeHookCreation"),
                job("smoke", "PostSync", owner="truenorth.io"),
                job("page-", "SyncFail"),
                skipped,
            ]
        },
        namespace=NS,
        create_namespace=True,
    )
    plan = KubernetesEngine().plan(workspace.ctx())
    snapshots.check("kubernetes-plan-hooks", plan.output)


def test_create_namespace_creates_it_first_and_never_prunes_it(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    fresh = "fresh"
    workspace.commit({"app.yaml": [m.config_map("settings", fresh)]}, namespace=fresh)
    refused = _apply(workspace)
    assert refused.status is RunStatus.FAILED and f'namespaces "{fresh}" not found' in refused.error
    workspace.commit({"app.yaml": [m.config_map("settings", fresh)]}, namespace=fresh, create_namespace=True)
    plan = KubernetesEngine().plan(workspace.ctx())
    change = {c.address: c for c in plan.changes}[f"core/Namespace/_cluster/{fresh}"]
    assert change.action is Action.CREATE and "never pruned" in change.reason
    result = KubernetesEngine().apply(workspace.ctx(), plan)
    assert result.ok, result.error
    live = kubeapi.object("v1", "Namespace", fresh)
    assert live is not None and live["metadata"]["labels"]["truenorth.io/stack"] == "app"
    assert kubeapi.object("v1", "ConfigMap", "settings", fresh) is not None
    recorded = {ref.address for ref in inventory_file.load(workspace.state_dir, stack="app").refs}
    assert recorded == {f"core/ConfigMap/{fresh}/settings"}, "the namespace is never in the inventory"
    workspace.commit({"app.yaml": [m.config_map("settings", fresh)]}, namespace=fresh, create_namespace=False)
    after = KubernetesEngine().plan(workspace.ctx())
    assert Action.DELETE not in {c.action for c in after.changes}
    assert _apply(workspace).ok and kubeapi.object("v1", "Namespace", fresh) is not None


def test_create_namespace_needs_a_namespace() -> None:
    text = "stacks:\n  - {name: web, engine: kubernetes, path: k8s, create_namespace: true}\n"
    with pytest.raises(specs.SpecError) as caught:
        specs.parse_spec(text)
    assert "create_namespace" in str(caught.value) and "needs namespace" in str(caught.value)


def test_an_unknown_hook_delete_policy_names_the_object(workspace: Workspace) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), job("migrate", "PreSync", policy="Always")]})
    with pytest.raises(EngineError) as caught:
        KubernetesEngine().plan(workspace.ctx())
    assert (
        f"deploy/app/app.yaml (document 2): batch/Job/{NS}/migrate: unknown hook delete policy 'Always'"
        in str(caught.value)
    )


def test_the_test_server_job_status_has_the_real_shape(kubeapi: KubeAPIServer) -> None:
    kubeapi.seed(m.namespace(NS))
    kubeapi.seed(job("done", "PreSync"))
    kubeapi.fail_runs("Job", "broken")
    kubeapi.seed(job("broken", "PreSync"))
    done = kubeapi.object("batch/v1", "Job", "done", NS)
    broken = kubeapi.object("batch/v1", "Job", "broken", NS)
    assert done is not None and broken is not None
    assert [c["type"] for c in done["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert done["status"]["succeeded"] == 1 and done["status"]["completionTime"]
    assert [c["type"] for c in broken["status"]["conditions"]] == ["FailureTarget", "Failed"]
    assert broken["status"]["failed"] == 2 and json.dumps(broken).count("BackoffLimitExceeded") == 2
