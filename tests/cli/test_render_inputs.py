"""`truenorth render` substitutes a stack's inputs as `plan` resolves them, and reads `--config`.

An input not known yet (its stack never applied) is an error naming it; `--allow-unknown`
leaves it as its `${NAME}` reference, with a note. Once the upstream Terraform stack is
applied, its outputs are substituted: the plain one in a ConfigMap, the sensitive one in
a Secret, whose value render masks (the value is in no output). `--config` gives the
stack's target cluster's `allowed_remote_hosts` to the remote-base check.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

pytestmark = pytest.mark.slow

SEED = "seed-of-the-render-inputs-test"
#: What Terraform computes from SEED: the sensitive output's value.
CANARY = hashlib.sha256(SEED.encode()).hexdigest()

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: network
  - name: web
    engine: kubernetes
    path: web
    target: prod
    namespace: shop
    inputs:
      cidr: network.cidr
      token: network.token
"""

NETWORK = """\
resource "terraform_data" "vpc" {
  input = "10.0.0.0/16"
}

output "cidr" {
  value = terraform_data.vpc.output
}

output "token" {
  value     = sha256("SEED")
  sensitive = true
}
""".replace("SEED", SEED)

MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  cidr: ${cidr}
---
apiVersion: v1
kind: Secret
metadata:
  name: credentials
stringData:
  token: ${token}
"""


def _objects(text: str) -> dict[str, dict]:
    return {obj["kind"]: obj for obj in yaml.safe_load_all(text)}


def test_render_substitutes_inputs_and_refuses_unknown_ones(tmp_path: Path, invoke: Invoke) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "network feeds web",
        {"truenorth.yaml": SPEC, "network/main.tf": NETWORK, "web/objects.yaml": MANIFESTS},
    )
    unknown = invoke("render", repo.url, "--stack", "web")
    assert unknown.exit_code == 1
    text = " ".join(unknown.stderr.split())
    assert "stack web: input(s) not known yet: cidr (network.cidr, known after network applies)" in text
    assert "token (network.token, known after network applies)" in text and "--allow-unknown" in text
    assert unknown.stdout == ""

    allowed = invoke("render", repo.url, "--stack", "web", "--allow-unknown")
    assert allowed.exit_code == 0, allowed.stderr
    objects = _objects(allowed.stdout)
    assert objects["ConfigMap"]["data"] == {"cidr": "${cidr}"}
    assert "${token}" not in allowed.stdout  # a Secret's values are masked, even references
    notes = " ".join(allowed.stderr.split())
    assert "${cidr} left as written: network.cidr is known after network applies" in notes

    applied = invoke("apply", repo.url, "--stack", "network", "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    known = invoke("render", repo.url, "--stack", "web")
    assert known.exit_code == 0, known.stderr
    objects = _objects(known.stdout)
    assert objects["ConfigMap"]["data"] == {"cidr": "10.0.0.0/16"}
    assert set(objects["Secret"]["stringData"]) == {"token"}
    assert CANARY not in known.stdout + known.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_render_takes_allowed_remote_hosts_from_config(tmp_path: Path, invoke: Invoke) -> None:
    remote = f"http://127.0.0.1:{_closed_port()}/base.git//base?ref=main"
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "a remote base",
        {
            "truenorth.yaml": "stacks:\n  - {name: web, engine: kubernetes, path: web, target: prod}\n",
            "web/kustomization.yaml": f"resources:\n  - {remote}\n",
        },
    )
    refused = invoke("render", repo.url, "--stack", "web")
    assert refused.exit_code == 1
    assert "is not in the cluster's allowed_remote_hosts" in " ".join(refused.stderr.split())
    config = tmp_path / "truenorth.toml"
    config.write_text('[clusters.prod]\nin_cluster = true\nallowed_remote_hosts = ["127.0.0.1"]\n')
    fetched = invoke("render", repo.url, "--stack", "web", "--config", str(config))
    # Allowed: kubectl kustomize tries the host (nobody listens there), no refusal by truenorth.
    assert fetched.exit_code == 1
    assert "allowed_remote_hosts" not in fetched.stderr
    assert "kubectl kustomize failed" in fetched.stderr and "127.0.0.1" in fetched.stderr
