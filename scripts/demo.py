"""`make run`: build the demo GitOps repository from examples/ and serve it with truenorth.

Creates (once) a real Git repository under the data dir from ``examples/demo``, an admin
API token and a webhook secret (kept 0600 in the data dir, so later runs reuse them),
then runs ``truenorth serve`` on 127.0.0.1 with embedded defaults (SQLite, a 10 s poll)
and tells the user how to watch a commit converge. Ctrl-C stops it.

The demo's Kubernetes stack (``config``) targets the cluster ``demo``: the cluster of
``$KUBECONFIG`` (or ``--kubeconfig``) when one is given, otherwise an in-memory
stand-in for a Kubernetes API server that this script runs on 127.0.0.1 (the one the
test suite uses; it speaks the real wire format, so what truenorth does against it is
what it does against a cluster, and its objects vanish when the demo stops).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "demo"


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="truenorth demo",
        GIT_AUTHOR_EMAIL="demo@truenorth.invalid",
        GIT_COMMITTER_NAME="truenorth demo",
        GIT_COMMITTER_EMAIL="demo@truenorth.invalid",
    )
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def build_demo_repo(target: Path) -> Path:
    """Create the demo repository once; later runs reuse it (and its new commits)."""
    if (target / ".git").is_dir():
        return target
    shutil.copytree(EXAMPLE, target)
    spec = target / "truenorth.yaml"
    spec.write_text(spec.read_text().replace("BASE_DIR", str(target.parent / "demo-hosts")))
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "Demo infrastructure: network, app and hosts stacks")
    return target


def private_value(path: Path) -> str:
    """A random secret kept in ``path`` (created 0600 on first use)."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


def demo_cluster(data_dir: Path, kubeconfig: str | None) -> tuple[Path, str, str, Any]:
    """The demo's Kubernetes target: its kubeconfig, what it is, how to see the ConfigMap
    the ``config`` stack fills, and what to stop at the end."""
    look = "kubectl -n demo get configmap network -o yaml"
    if kubeconfig:
        return Path(kubeconfig).absolute(), f"the cluster of {kubeconfig}", look, None
    sys.path.insert(0, str(ROOT))
    from tests.support.kubeapi import KubeAPIServer  # stdlib + PyYAML only

    api = KubeAPIServer(token=secrets.token_urlsafe(24)).start()
    path = data_dir / "demo-kubeconfig"
    path.touch(mode=0o600)
    api.kubeconfig(path)
    what = f"an in-memory Kubernetes API stand-in at {api.url} (set KUBECONFIG for a real cluster)"
    return path, what, f"KUBECONFIG={path} {look}", api


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".truenorth"))
    parser.add_argument("--listen", default=os.environ.get("TRUENORTH_LISTEN", "127.0.0.1:8080"))
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG") or None)
    options = parser.parse_args()
    data_dir = options.data_dir.absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    repo = build_demo_repo(data_dir / "demo-repo")
    kubeconfig, cluster, look, api = demo_cluster(data_dir, options.kubeconfig)
    config = data_dir / "demo.toml"
    config.write_text(f"[clusters.demo]\nkubeconfig = {json.dumps(str(kubeconfig))}\n", encoding="utf-8")
    token = os.environ.get("TRUENORTH_TOKEN") or private_value(data_dir / "demo-token")
    webhook_secret = os.environ.get("TRUENORTH_WEBHOOK_SECRET") or private_value(
        data_dir / "demo-webhook-secret"
    )
    url = f"http://{options.listen}"
    exe = Path(sys.executable).parent / "truenorth"
    print(
        f"""
truenorth demo
  GitOps repository : {repo}
                      stacks: network, app [Terraform], hosts [Ansible], config [Kubernetes]
  Kubernetes target : {cluster}
  Web UI            : {url}/  (log in with the API token below)
  API               : {url}/api/v1/stacks   (OpenAPI: {url}/api/v1/openapi.json, metrics: {url}/metrics)
  API token (admin) : {token}

Watch the stacks converge:
  curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/stacks
  {exe} status --server {url} --token {token}

Outputs flow across engines: network's outputs (Terraform) are hosts' extra vars (Ansible)
and config's ConfigMap and Secret (Kubernetes). See them:
  {exe} outputs network --server {url} --token {token}
  curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/stacks   # inputs and outputs per stack
  cat {data_dir / "demo-hosts" / "web1" / "network.conf"}
  {look}

Commit a change and watch it converge within one poll (10 s), or push a webhook for at once:
  cd {repo}
  sed -i 's/default = 2/default = 3/' stacks/app/main.tf && git commit -qam 'Scale the app to 3'
  sed -i 's#10.42.0.0/16#10.43.0.0/16#' truenorth.yaml && git commit -qam 'Move the network'
    (network applies, then hosts and config converge with the new cidr, in that order)

Ctrl-C stops the controller.
""",
        flush=True,
    )
    env = {**os.environ, "TRUENORTH_TOKEN": token, "TRUENORTH_WEBHOOK_SECRET": webhook_secret}
    # The hosts stack's plays manage files in demo-hosts: its sandboxed applies may write there.
    env.setdefault("TRUENORTH_SANDBOX_WRITABLE", str(data_dir / "demo-hosts"))
    argv = [
        str(exe), "serve", "--repo", repo.as_uri(), "--branch", "main", "--listen", options.listen,
        "--data-dir", str(data_dir), "--poll-interval", "10s", "--config", str(config),
    ]  # fmt: skip
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if api is not None:
            api.stop()


if __name__ == "__main__":
    sys.exit(main())
