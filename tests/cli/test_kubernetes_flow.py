"""End to end through the CLI: a Kubernetes stack planned and applied against the API test server.

The local commands take the cluster on the command line (``--kubeconfig FILE
[--context NAME]``) or from the controller's configuration (``--config FILE``, its
``[clusters]`` tables); without either the error names the stack's target and both ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer

pytestmark = [pytest.mark.slow]

NS = "shop"

SPEC = {
    "version": 1,
    "stacks": [
        {
            "name": "web",
            "engine": "kubernetes",
            "path": "deploy/web",
            "target": "prod",
            "namespace": NS,
            "create_namespace": True,
        }
    ],
}

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}


@pytest.fixture
def kubeapi() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as api:
        yield api


@pytest.fixture
def k8s_repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "a web stack",
        {"truenorth.yaml": yaml.safe_dump(SPEC), "deploy/web/settings.yaml": yaml.safe_dump(CONFIG_MAP)},
    )
    return repo


def test_plan_and_apply_with_kubeconfig_from_the_cli(
    tmp_path: Path, invoke: Invoke, k8s_repo: GitRepo, kubeapi: KubeAPIServer
) -> None:
    kubeconfig = kubeapi.kubeconfig(tmp_path / "kubeconfig")
    planned = invoke("plan", str(k8s_repo.path), "--kubeconfig", str(kubeconfig), "--context", "test")
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    assert "+ create  core/Namespace/_cluster/shop" in planned.stdout
    assert "+ create  core/ConfigMap/shop/settings" in planned.stdout
    applied = invoke("apply", str(k8s_repo.path), "--yes", "--kubeconfig", str(kubeconfig))
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    live = kubeapi.object("v1", "ConfigMap", "settings", NS)
    assert live is not None and live["data"] == {"a": "1"}
    again = invoke("plan", str(k8s_repo.path), "-o", "json", "--kubeconfig", str(kubeconfig))
    assert again.exit_code == 0, again.stdout + again.stderr
    document = json.loads(again.stdout)
    assert [s["name"] for s in document["stacks"]] == ["web"]
    drift = invoke("drift", str(k8s_repo.path), "--kubeconfig", str(kubeconfig))
    assert drift.exit_code == 0, drift.stdout + drift.stderr
    assert "No drift" in drift.stdout


def test_plan_reads_the_target_from_the_controllers_config(
    tmp_path: Path, invoke: Invoke, k8s_repo: GitRepo, kubeapi: KubeAPIServer
) -> None:
    kubeconfig = kubeapi.kubeconfig(tmp_path / "kubeconfig")
    config = tmp_path / "truenorth.toml"
    config.write_text(f'[clusters.prod]\nkubeconfig = "{kubeconfig}"\n', encoding="utf-8")
    planned = invoke("plan", str(k8s_repo.path), "--config", str(config))
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    assert "core/ConfigMap/shop/settings" in planned.stdout
    other = tmp_path / "other.toml"
    other.write_text(f'[clusters.staging]\nkubeconfig = "{kubeconfig}"\n', encoding="utf-8")
    missing = invoke("plan", str(k8s_repo.path), "--config", str(other))
    assert missing.exit_code == 1
    assert "its target cluster 'prod' is not configured here" in missing.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[clusters.prod]\ncontext = 'x'\n", encoding="utf-8")
    refused = invoke("plan", str(k8s_repo.path), "--config", str(broken))
    assert refused.exit_code == 1
    assert "clusters.prod.kubeconfig: missing" in refused.stderr


def test_a_missing_target_names_it_and_both_ways_to_set_it(invoke: Invoke, k8s_repo: GitRepo) -> None:
    planned = invoke("plan", str(k8s_repo.path))
    assert planned.exit_code == 1
    text = " ".join(planned.stdout.split())
    assert "stack web: its target cluster 'prod' is not configured here" in text
    assert "--kubeconfig FILE [--context NAME]" in text and "[clusters.prod]" in text
    alone = invoke("plan", str(k8s_repo.path), "--context", "test")
    assert alone.exit_code == 1 and "--context needs --kubeconfig" in alone.stderr


def test_local_approve_and_rollback_take_the_cluster_from_the_command_line(
    tmp_path: Path, invoke: Invoke, k8s_repo: GitRepo, kubeapi: KubeAPIServer
) -> None:
    kubeconfig = kubeapi.kubeconfig(tmp_path / "kubeconfig")
    first = k8s_repo.head()
    planned = invoke("plan", str(k8s_repo.path), "--kubeconfig", str(kubeconfig))
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    # Without a cluster the stored plan cannot be applied: the error says how to give one.
    blind = invoke("approve", "web", "--repo", str(k8s_repo.path))
    assert blind.exit_code == 1
    assert "its target cluster 'prod' is not configured here" in " ".join(blind.stderr.split())
    assert kubeapi.object("v1", "ConfigMap", "settings", NS) is None
    alone = invoke("approve", "web", "--repo", str(k8s_repo.path), "--context", "test")
    assert alone.exit_code == 1 and "--context needs --kubeconfig" in alone.stderr
    # The failed apply left no stored plan behind: plan again, then approve with the cluster.
    assert invoke("plan", str(k8s_repo.path), "--kubeconfig", str(kubeconfig)).exit_code == 2
    config = tmp_path / "truenorth.toml"
    config.write_text(f'[clusters.prod]\nkubeconfig = "{kubeconfig}"\n', encoding="utf-8")
    approved = invoke("approve", "web", "--repo", str(k8s_repo.path), "--config", str(config))
    assert approved.exit_code == 0, approved.stdout + approved.stderr
    live = kubeapi.object("v1", "ConfigMap", "settings", NS)
    assert live is not None and live["data"] == {"a": "1"}

    changed = {**CONFIG_MAP, "data": {"a": "2"}}
    k8s_repo.commit("a=2", {"deploy/web/settings.yaml": yaml.safe_dump(changed)})
    applied = invoke("apply", str(k8s_repo.path), "--yes", "--kubeconfig", str(kubeconfig))
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    rolled = invoke(
        "rollback", "web", "--revision", first, "--reason", "bad value", "--repo", str(k8s_repo.path),
        "--kubeconfig", str(kubeconfig), "--context", "test",
    )  # fmt: skip
    assert rolled.exit_code == 0, rolled.stdout + rolled.stderr
    live = kubeapi.object("v1", "ConfigMap", "settings", NS)
    assert live is not None and live["data"] == {"a": "1"}
