"""`truenorth render`: the example overlay renders exactly as `kubectl kustomize` does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"


def _key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_render_matches_kubectl_kustomize(tmp_path: Path, invoke: Invoke) -> None:
    repo = GitRepo(tmp_path / "repo")
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True)
    repo.commit("example")
    result = invoke("render", repo.url, "--stack", "web-production")
    assert result.exit_code == 0, result.stderr
    ours = sorted(yaml.safe_load_all(result.stdout), key=_key)
    kustomized = subprocess.run(
        ["kubectl", "kustomize", str(repo.path / "apps/web/overlays/production")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = sorted(yaml.safe_load_all(kustomized), key=_key)
    assert ours == theirs
    assert {kind for kind, _ in map(_key, ours)} >= {"Deployment", "Service", "ConfigMap"}


def test_render_refuses_remote_base_and_other_engines(tmp_path: Path, invoke: Invoke) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "remote base",
        {
            "truenorth.yaml": "stacks:\n"
            "  - {name: k, engine: kubernetes, path: k}\n"
            "  - {name: t, engine: terraform, path: t}\n",
            "k/kustomization.yaml": "resources:\n  - https://github.com/example/repo//base?ref=main\n",
            "t/main.tf": "",
        },
    )
    remote = invoke("render", repo.url, "--stack", "k")
    assert remote.exit_code == 1
    assert "remote" in remote.stderr.lower() and "github.com" in remote.stderr
    other = invoke("render", repo.url, "--stack", "t")
    assert other.exit_code == 1
    assert "only kubernetes stacks render" in other.stderr
