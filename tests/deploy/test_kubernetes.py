"""``deploy/kubernetes/`` and the ``Containerfile``: what a cluster operator is handed.

The example overlay is rendered by truenorth's own Kubernetes engine (``kubectl
kustomize`` and every check a stack's manifests pass), then read for what the scale-out
issue promises: two replicas, probes on ``/healthz`` and ``/readyz``, non-root with a
read-only root file system and an ``emptyDir`` data dir, settings from a ConfigMap (that
truenorth's own configuration loader accepts) and secrets only by reference, a
PodDisruptionBudget, a NetworkPolicy and the RBAC of ``target: in-cluster``. The image
cannot be built here (no container engine), so the Containerfile is checked for pinned
versions and a non-root user matching the Deployment.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.engines.kubernetes.test_fixtures import _ctx
from truenorth.config import loading
from truenorth.engines.kubernetes import KubernetesEngine

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
CONTAINERFILE = ROOT / "Containerfile"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    work = tmp_path_factory.mktemp("deploy")
    checkout = work / "repo"
    shutil.copytree(DEPLOY, checkout)
    return KubernetesEngine().render(_ctx(checkout, work, path="overlays/example"))


def _one(objects: list[dict[str, Any]], kind: str, name: str = "truenorth") -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


@pytest.mark.slow
def test_the_example_renders_every_object_an_operator_expects(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted({o["kind"] for o in rendered})
    assert kinds == [
        "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Namespace",
        "NetworkPolicy", "PodDisruptionBudget", "RoleBinding", "Service", "ServiceAccount",
    ]  # fmt: skip
    namespaced = [o for o in rendered if o["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"truenorth", "apps"}
    assert not [o for o in rendered if o["kind"] == "Secret"], "secrets are referenced, never shipped"


@pytest.mark.slow
def test_the_deployment_runs_two_hardened_replicas_with_probes(rendered: list[dict[str, Any]]) -> None:
    deployment = _one(rendered, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "truenorth"
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/lib/truenorth"]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/truenorth"]]["configMap"]["name"] == "truenorth-config"
    secret_env = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"TRUENORTH_STORE_URL", "TRUENORTH_TOKEN", "TRUENORTH_WEBHOOK_SECRET"} <= secret_env
    assert not [e for e in container["env"] if "value" in e and "TRUENORTH" in e["name"]]
    selector = deployment["spec"]["selector"]["matchLabels"]
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        spec = _one(rendered, kind)["spec"]
        chosen = (
            spec.get("selector", {}).get("matchLabels", spec.get("selector"))
            or spec["podSelector"]["matchLabels"]
        )
        assert chosen == selector, kind
    assert _one(rendered, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


@pytest.mark.slow
def test_the_configmap_is_a_configuration_truenorth_accepts_with_the_in_cluster_target(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    text = _one(rendered, "ConfigMap", "truenorth-config")["data"]["truenorth.toml"]
    (tmp_path / "truenorth.toml").write_text(text)
    environ = {
        "TRUENORTH_STORE_URL": "postgresql://truenorth@db/truenorth",
        "TRUENORTH_WEBHOOK_SECRET": "w" * 32,
        "TRUENORTH_GIT_TOKEN": "g" * 32,
    }
    config = loading.load_config(tmp_path / "truenorth.toml", environ=environ)
    assert config.clusters["in-cluster"].settings()["in_cluster"] == "true"
    assert config.listen == "0.0.0.0:8080" and str(config.data_dir) == "/var/lib/truenorth"


@pytest.mark.slow
def test_the_service_account_may_deploy_only_where_it_is_bound(rendered: list[dict[str, Any]]) -> None:
    binding = _one(rendered, "RoleBinding", "truenorth-deployer")
    assert binding["metadata"]["namespace"] == "apps"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "truenorth", "namespace": "truenorth"}]
    deployer = _one(rendered, "ClusterRole", "truenorth-deployer")
    groups = {group for rule in deployer["rules"] for group in rule["apiGroups"]}
    assert "rbac.authorization.k8s.io" not in groups and "*" not in groups
    assert all("*" not in rule["verbs"] and "escalate" not in rule["verbs"] for rule in deployer["rules"])
    cluster_wide = _one(rendered, "ClusterRoleBinding", "truenorth-observer")
    observer = _one(rendered, "ClusterRole", cluster_wide["roleRef"]["name"])
    assert {verb for rule in observer["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}


def test_the_containerfile_pins_every_tool_and_runs_as_the_deployments_user() -> None:
    text = CONTAINERFILE.read_text()
    pins = dict(re.findall(r"^ARG ([A-Z_]+)=(\S+)$", text, re.MULTILINE))
    assert re.fullmatch(r"\d+\.\d+\.\d+", pins["TERRAFORM_VERSION"])
    assert re.fullmatch(r"v\d+\.\d+\.\d+", pins["KUBECTL_VERSION"])
    assert re.search(r"bubblewrap=\d[\w.+~-]+", text)
    ansible = re.search(r'"ansible-core==(\d+)\.(\d+)\.(\d+)"', text)
    assert ansible is not None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(dep.startswith("ansible-core>=") and "<2.20" in dep for dep in project)
    assert (int(ansible[1]), int(ansible[2])) < (2, 20)
    assert ":latest" not in text
    user = re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE)
    assert user is not None and user[1] != "0"
    deployment = (DEPLOY / "base" / "deployment.yaml").read_text()
    assert f"runAsUser: {user[1]}" in deployment and f"runAsGroup: {user[2]}" in deployment
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "truenorth"]' in text
