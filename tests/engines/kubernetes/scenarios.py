"""Engine scenarios that run unchanged against the test API server and a real cluster.

Each scenario drives the real :class:`KubernetesEngine` through a Git repository
(:class:`~tests.engines.kubernetes.harness.Workspace`) and checks the cluster through
a :class:`~tests.engines.kubernetes.harness.Cluster`. ``test_engine.py`` runs them
against :class:`~tests.support.kubeapi.KubeAPIServer`, ``test_e2e_real_cluster.py``
against the cluster in ``TRUENORTH_E2E_KUBECONFIG``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.engines.kubernetes import manifests as m
from tests.engines.kubernetes.harness import Cluster, Workspace
from truenorth.core.plans import Action, Plan
from truenorth.core.runs import RunStatus
from truenorth.core.states import Health
from truenorth.engines.kubernetes import KubernetesEngine
from truenorth.engines.kubernetes import inventory as inventory_file
from truenorth.engines.protocol import EngineError

__all__ = ["SCENARIOS"]


def _actions(plan: Plan) -> dict[str, Action]:
    return {change.address: change.action for change in plan.changes}


def _eventually_gone(cluster: Cluster, api_version: str, kind: str, name: str, ns: str) -> bool:
    # A real cluster removes a deleted Deployment asynchronously (garbage collector).
    deadline = time.monotonic() + (0 if cluster.simulated else 60)
    while True:
        if cluster.get(api_version, kind, name, ns) is None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def plan_apply_and_converge(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    ws.commit(
        {
            "app.yaml": [
                m.namespace(ns),
                m.config_map("settings", ns, color="blue"),
                m.deployment("web", ns),
                m.service("web", ns),
            ]
        }
    )
    engine = KubernetesEngine()
    plan = engine.plan(ws.ctx())
    assert _actions(plan) == {
        f"core/Namespace/_cluster/{ns}": Action.CREATE,
        f"core/ConfigMap/{ns}/settings": Action.CREATE,
        f"core/Service/{ns}/web": Action.CREATE,
        f"apps/Deployment/{ns}/web": Action.CREATE,
    }
    assert [c.address.split("/")[1] for c in plan.changes] == [
        "Namespace",
        "ConfigMap",
        "Service",
        "Deployment",
    ]
    assert plan.summary.add == 4 and plan.health is Health.MISSING
    result = engine.apply(ws.ctx(), plan)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.health is Health.HEALTHY
    live = cluster.get("apps/v1", "Deployment", "web", ns)
    assert live is not None
    assert live["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "truenorth",
        "truenorth.io/stack": "app",
    }
    appliers = {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    assert ("truenorth", "Apply") in appliers
    again = engine.plan(ws.ctx())
    assert not again.has_changes, again.output
    assert {c.action for c in again.changes} == {Action.NOOP}
    assert again.health is Health.HEALTHY


def removing_a_deployment_prunes_it(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    ws.commit({"app.yaml": [m.namespace(ns), m.deployment("web", ns), m.deployment("worker", ns)]})
    assert engine.apply(ws.ctx(), engine.plan(ws.ctx())).ok
    assert cluster.get("apps/v1", "Deployment", "worker", ns) is not None
    ws.commit({"app.yaml": [m.namespace(ns), m.deployment("web", ns)]})
    plan = engine.plan(ws.ctx())
    assert _actions(plan)[f"apps/Deployment/{ns}/worker"] is Action.DELETE
    assert plan.summary.destroy == 1 and plan.summary.add == 0
    result = engine.apply(ws.ctx(), plan)
    assert result.ok, result.error
    assert f"pruned apps/Deployment/{ns}/worker" in result.output
    assert _eventually_gone(cluster, "apps/v1", "Deployment", "worker", ns)
    assert cluster.get("apps/v1", "Deployment", "web", ns) is not None
    recorded = inventory_file.load(ws.state_dir, stack="app")
    assert [ref.name for ref in recorded.refs if ref.kind == "Deployment"] == ["web"]


def prune_never_touches_what_truenorth_does_not_own(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    ws.commit(
        {"app.yaml": [m.namespace(ns), m.config_map("mine", ns, a="1"), m.config_map("keep", ns, a="1")]}
    )
    assert engine.apply(ws.ctx(), engine.plan(ws.ctx())).ok
    # Labelled as the stack's, but never applied by truenorth: not in the inventory.
    foreign = m.config_map("foreign", ns, a="1")
    foreign["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "truenorth", "truenorth.io/stack": "app"}
    cluster.create(foreign)
    # Applied by truenorth, then taken over by someone who removed the stack label.
    cluster.patch("v1", "ConfigMap", "mine", {"metadata": {"labels": {"truenorth.io/stack": None}}}, ns)
    ws.commit({"app.yaml": [m.namespace(ns), m.config_map("keep", ns, a="1")]})
    plan = engine.plan(ws.ctx())
    assert Action.DELETE not in _actions(plan).values(), plan.output
    assert plan.meta["left_alone"] == [f"core/ConfigMap/{ns}/mine"]
    assert plan.meta["unlisted"] == [f"core/ConfigMap/{ns}/foreign"]
    assert f"not in inventory core/ConfigMap/{ns}/foreign" in plan.output
    assert engine.apply(ws.ctx(), plan).ok
    assert cluster.get("v1", "ConfigMap", "mine", ns) is not None
    assert cluster.get("v1", "ConfigMap", "foreign", ns) is not None


def drift_is_found_and_declared_differences_are_ignored(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    ignore = [{"kind": "Deployment", "group": "apps", "json_pointers": ["/spec/replicas"]}]
    ws.commit(
        {
            "app.yaml": [
                m.namespace(ns),
                m.deployment("web", ns, replicas=1),
                m.config_map("settings", ns, color="blue"),
            ]
        },
        ignore_differences=ignore,
    )
    assert engine.apply(ws.ctx(), engine.plan(ws.ctx())).ok
    assert not engine.drift(ws.ctx()).has_changes
    cluster.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 2}}, ns)
    cluster.patch("v1", "ConfigMap", "settings", {"metadata": {"labels": {"team": "ops"}}}, ns)
    assert not engine.drift(ws.ctx()).has_changes, "ignored pointer and foreign labels are not drift"
    cluster.patch("v1", "ConfigMap", "settings", {"data": {"color": "red"}}, ns)
    drift = engine.drift(ws.ctx())
    assert drift.meta["drift"] is True
    assert _actions(drift)[f"core/ConfigMap/{ns}/settings"] is Action.UPDATE
    changed = [c for c in drift.changes if c.action is Action.UPDATE]
    assert len(changed) == 1
    assert "-  color: red" in changed[0].diff and "+  color: blue" in changed[0].diff


CANARY = "tn-canary-8c1f2a7b9d"
CANARY_DATA = "tn-canary-data-51e04d"


def _leaks(text: str) -> list[str]:
    forms = [CANARY, CANARY_DATA]
    forms += [base64.b64encode(value.encode()).decode() for value in (CANARY, CANARY_DATA)]
    return [form for form in forms if form in text]


def secret_canary_appears_nowhere(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    data = {"token": base64.b64encode(CANARY_DATA.encode()).decode()}
    ws.commit(
        {"app.yaml": [m.namespace(ns), m.secret("creds", ns, data=data, string_data={"password": CANARY})]}
    )
    plan = engine.plan(ws.ctx())
    result = engine.apply(ws.ctx(), plan)
    assert result.ok, result.error
    live = cluster.get("v1", "Secret", "creds", ns)
    assert live is not None and base64.b64decode(live["data"]["password"]).decode() == CANARY
    ws.commit(
        {
            "app.yaml": [
                m.namespace(ns),
                m.secret("creds", ns, data=data, string_data={"password": CANARY + "-rotated"}),
            ]
        }
    )
    rotated = engine.plan(ws.ctx())
    change = next(c for c in rotated.changes if c.resource_type == "Secret")
    assert change.action is Action.UPDATE
    assert "(sensitive value, changed)" in change.diff
    second = engine.apply(ws.ctx(), rotated)
    assert second.ok, second.error
    drift = engine.drift(ws.ctx())
    for text in (
        json.dumps(plan.to_dict()),
        plan.output,
        json.dumps(rotated.to_dict()),
        rotated.output,
        json.dumps(drift.to_dict()),
        result.output,
        result.error,
        second.output,
        ws.stored_text(),
    ):
        assert not _leaks(text), _leaks(text)


def invalid_secrets_never_show_their_values(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    bad_number: dict[str, Any] = {"pin": 48151623424}
    for secret in (
        m.secret("creds", ns, string_data=bad_number),
        m.secret("creds", ns, data={"token": CANARY + "!!not-base64"}),
        m.secret("creds", ns, data={"token": CANARY}, string_data={"n": 7}),
    ):
        ws.commit({"app.yaml": [m.namespace(ns), secret]})
        with pytest.raises(EngineError) as caught:
            engine.plan(ws.ctx())
        message = str(caught.value)
        assert "Secret" in message and "creds" in message
        assert not _leaks(message) and "48151623424" not in message
    assert cluster.get("v1", "Secret", "creds", ns) is None
    assert not _leaks(ws.stored_text()) and "48151623424" not in ws.stored_text()


def an_empty_revision_never_prunes_everything(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    ws.commit({"app.yaml": [m.namespace(ns), m.config_map("settings", ns, a="1")]})
    assert engine.apply(ws.ctx(), engine.plan(ws.ctx())).ok
    ws.commit({"app.yaml": ""})
    with pytest.raises(EngineError, match="allow_empty"):
        engine.plan(ws.ctx())
    assert cluster.get("v1", "ConfigMap", "settings", ns) is not None
    ws.commit({"app.yaml": ""}, allow_empty=True)
    plan = engine.plan(ws.ctx())
    assert set(_actions(plan).values()) == {Action.DELETE}
    assert engine.apply(ws.ctx(), plan).ok
    assert _eventually_gone(cluster, "v1", "ConfigMap", "settings", ns)


def a_partial_apply_fails_records_and_does_not_prune(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    ws.commit({"app.yaml": [m.namespace(ns), m.config_map("old", ns, a="1")]})
    assert engine.apply(ws.ctx(), engine.plan(ws.ctx())).ok
    # Five objects; the third in apply order is a Deployment the API server rejects (422).
    broken = m.deployment("a-broken", ns, selector="something-else")
    objects = [
        m.config_map("one", ns, a="1"),
        m.config_map("two", ns, a="1"),
        broken,
        m.deployment("b-web", ns),
        m.deployment("c-api", ns),
    ]
    ws.commit({"app.yaml": [m.namespace(ns), *objects]})
    plan = engine.plan(ws.ctx())
    result = engine.apply(ws.ctx(), plan)
    assert result.status is RunStatus.FAILED
    assert f"apps/Deployment/{ns}/a-broken" in result.error and "Invalid" in result.error
    assert (
        f"applied core/ConfigMap/{ns}/one" in result.output
        and f"applied core/ConfigMap/{ns}/two" in result.output
    )
    assert "prune skipped" in result.output
    assert cluster.get("v1", "ConfigMap", "one", ns) is not None
    assert cluster.get("apps/v1", "Deployment", "b-web", ns) is None
    assert cluster.get("v1", "ConfigMap", "old", ns) is not None, "no prune after a failed apply"
    recorded = {ref.name for ref in inventory_file.load(ws.state_dir, stack="app").refs}
    assert {"one", "two", "old"} <= recorded
    objects[2] = m.deployment("a-broken", ns)
    ws.commit({"app.yaml": [m.namespace(ns), *objects]})
    fixed = engine.apply(ws.ctx(), engine.plan(ws.ctx()))
    assert fixed.ok, fixed.error
    assert _eventually_gone(cluster, "v1", "ConfigMap", "old", ns)
    assert cluster.get("apps/v1", "Deployment", "c-api", ns) is not None


def a_stale_plan_is_refused(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    first = ws.commit({"app.yaml": [m.namespace(ns), m.config_map("settings", ns, a="1")]})
    old_plan = engine.plan(ws.ctx(first))
    ws.commit({"app.yaml": [m.namespace(ns), m.config_map("settings", ns, a="2")]})
    result = engine.apply(ws.ctx(), old_plan)
    assert result.status is RunStatus.FAILED and "stale plan" in result.error
    assert cluster.get("v1", "ConfigMap", "settings", ns) is None


def a_crd_and_its_custom_resources_apply_together(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    group = f"{ns}.example.com"
    cron = {
        "apiVersion": f"{group}/v1",
        "kind": "CronTab",
        "metadata": {"name": "nightly", "namespace": ns},
        "spec": {"cronSpec": "0 3 * * *"},
    }
    ws.commit({"app.yaml": [m.namespace(ns), m.crd(group=group), cron]})
    plan = engine.plan(ws.ctx())
    change = next(c for c in plan.changes if c.resource_type == "CronTab")
    assert change.action is Action.CREATE and "CustomResourceDefinition" in change.reason
    result = engine.apply(ws.ctx(), plan)
    assert result.ok, result.error
    live = cluster.get(f"{group}/v1", "CronTab", "nightly", ns)
    assert live is not None and live["spec"]["cronSpec"] == "0 3 * * *"
    assert not engine.plan(ws.ctx()).has_changes


def a_field_removed_from_git_disappears(ws: Workspace, cluster: Cluster) -> None:
    ns = cluster.namespace
    engine = KubernetesEngine()
    labelled = m.config_map("settings", ns, a="1", b="2")
    labelled["metadata"]["labels"] = {"tier": "web"}
    ws.commit({"app.yaml": [m.namespace(ns), labelled]})
    assert engine.apply(ws.ctx(), engine.plan(ws.ctx())).ok
    ws.commit({"app.yaml": [m.namespace(ns), m.config_map("settings", ns, a="1")]})
    plan = engine.plan(ws.ctx())
    change = next(c for c in plan.changes if c.resource_type == "ConfigMap")
    assert change.action is Action.UPDATE
    assert "-    tier: web" in change.diff and "-  b: '2'" in change.diff
    assert engine.apply(ws.ctx(), plan).ok
    live = cluster.get("v1", "ConfigMap", "settings", ns)
    assert live is not None and live["data"] == {"a": "1"}
    assert "tier" not in live["metadata"]["labels"]


SCENARIOS: dict[str, Callable[[Workspace, Cluster], None]] = {
    fn.__name__: fn
    for fn in (
        plan_apply_and_converge,
        removing_a_deployment_prunes_it,
        prune_never_touches_what_truenorth_does_not_own,
        drift_is_found_and_declared_differences_are_ignored,
        secret_canary_appears_nowhere,
        invalid_secrets_never_show_their_values,
        an_empty_revision_never_prunes_everything,
        a_partial_apply_fails_records_and_does_not_prune,
        a_stale_plan_is_refused,
        a_crd_and_its_custom_resources_apply_together,
        a_field_removed_from_git_disappears,
    )
}
