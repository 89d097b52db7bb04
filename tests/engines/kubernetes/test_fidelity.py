"""Redaction never changes what is applied: the cluster gets the repository's exact bytes.

Connection strings, Flux ``GitRepository`` URLs and Argo CD repository URLs live in
manifest values. Masking is for what truenorth shows; the objects applied (rendered by
``kubectl kustomize`` or read from a plain folder) must carry the values exactly as the
repository holds them, while the plan people read masks a password or an ``https``
token and shows an SSH user name (``ssh://git@``) as is.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.engines.kubernetes import manifests as m
from tests.engines.kubernetes.harness import STACK_DIR, Workspace
from tests.support.kubeapi import KubeAPIServer
from truenorth.core import plans
from truenorth.engines.kubernetes import KubernetesEngine

NS = "team-a"
PASSWORD = "pw-canary-3f9a1c"
TOKEN = "tok-canary-77d2e0"
#: In an Argo CD repository Secret: a Secret value, masked whole wherever it shows.
ARGO_URL = "https://argocd:argo-canary-51b7@git.example.com/org/infra.git"
VALUES = {
    "git": "ssh://git@github.com/org/app.git",
    "database": "postgres://app@db:5432/app",
    "scp": "git@github.com:org/app.git",
    "with-password": f"https://deploy:{PASSWORD}@git.example.com/org/app.git",
    "with-token": f"https://{TOKEN}@git.example.com/org/app.git",
    "odd": "x://a@b://c@d and ssh://git@h:22/x?y=z#w",
}
SHOWN = {
    "git": "ssh://git@github.com/org/app.git",
    "database": "postgres://app@db:5432/app",
    "scp": "git@github.com:org/app.git",
    "with-password": "https://***@git.example.com/org/app.git",
    "with-token": "https://***@git.example.com/org/app.git",
    "odd": "x://a@b://c@d and ssh://git@h:22/x?y=z#w",
}
FLUX = "source.toolkit.fluxcd.io"


def _manifests() -> str:
    """The stack's objects as YAML text (the bytes committed), every value double-quoted."""
    data = "".join(f'  {key}: "{value}"\n' for key, value in VALUES.items())
    source = {
        "apiVersion": f"{FLUX}/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {"url": VALUES["git"], "interval": "1m", "ref": {"branch": "main"}},
    }
    repository = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "repo-app",
            "namespace": NS,
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "stringData": {"url": ARGO_URL, "type": "git"},
    }
    return (
        yaml.safe_dump(m.namespace(NS))
        + "---\n"
        + yaml.safe_dump(m.crd(group=FLUX, kind="GitRepository", plural="gitrepositories"))
        + "---\n"
        + f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: urls\n  namespace: {NS}\n"
        + f'  annotations:\n    example.com/source: "{VALUES["with-token"]}"\ndata:\n{data}'
        + "---\n"
        + yaml.safe_dump(source)
        + "---\n"
        + yaml.safe_dump(repository)
    )


KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - app.yaml\n"


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["kustomize", "plain"])
def test_applied_objects_carry_the_repository_bytes_and_the_plan_masks_only_credentials(
    layout: str, workspace: Workspace, kubeapi: KubeAPIServer, tmp_path: Path
) -> None:
    files = {"app.yaml": _manifests()}
    if layout == "kustomize":
        files["kustomization.yaml"] = KUSTOMIZATION
    workspace.commit(files)
    committed = (workspace.repo.path / STACK_DIR / "app.yaml").read_bytes()
    for value in VALUES.values():
        assert value.encode() in committed

    engine = KubernetesEngine()
    rendered = engine.render(workspace.ctx())
    config_map = next(obj for obj in rendered if obj["kind"] == "ConfigMap")
    assert config_map["data"] == VALUES, "rendering changed a value"

    plan = engine.plan(workspace.ctx())
    shown = json.dumps([change.to_dict() for change in plan.changes]) + plan.output
    for secret in (PASSWORD, TOKEN, ARGO_URL, "argo-canary"):
        assert secret not in shown
    after = next(c for c in plan.changes if c.resource_type == "ConfigMap").after
    assert after["data"] == SHOWN
    assert after["metadata"]["annotations"]["example.com/source"] == SHOWN["with-token"]
    source = next(c for c in plan.changes if c.resource_type == "GitRepository")
    assert source.action is plans.Action.CREATE and source.after["spec"]["url"] == VALUES["git"]

    result = engine.apply(workspace.ctx(), plan)
    assert result.ok, result.error
    assert PASSWORD not in result.output + result.error and TOKEN not in result.output + result.error

    live = kubeapi.object("v1", "ConfigMap", "urls", NS)
    assert live is not None and live["data"] == VALUES
    assert live["metadata"]["annotations"]["example.com/source"] == VALUES["with-token"]
    flux = kubeapi.object(f"{FLUX}/v1", "GitRepository", "app", NS)
    assert flux is not None and flux["spec"]["url"] == VALUES["git"]
    secret = kubeapi.object("v1", "Secret", "repo-app", NS)
    assert secret is not None
    assert base64.b64decode(secret["data"]["url"]).decode() == ARGO_URL
    # What went over the wire is the repository's text, byte for byte.
    sent = b"".join(r.body for r in kubeapi.writes() if "dryRun" not in r.query)
    for value in (*VALUES.values(), ARGO_URL):
        assert json.dumps(value).encode() in sent or value.encode() in sent, value
