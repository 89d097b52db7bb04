"""`make run`: build the demo GitOps repository from examples/ and serve it with truenorth.

Creates (once) a real Git repository under the data dir from ``examples/demo``, an admin
API token and a webhook secret (kept 0600 in the data dir, so later runs reuse them),
then runs ``truenorth serve`` on 127.0.0.1 with embedded defaults (SQLite, a 10 s poll)
and tells the user how to watch a commit converge. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".truenorth"))
    parser.add_argument("--listen", default=os.environ.get("TRUENORTH_LISTEN", "127.0.0.1:8080"))
    options = parser.parse_args()
    data_dir = options.data_dir.absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    repo = build_demo_repo(data_dir / "demo-repo")
    token = os.environ.get("TRUENORTH_TOKEN") or private_value(data_dir / "demo-token")
    webhook_secret = os.environ.get("TRUENORTH_WEBHOOK_SECRET") or private_value(
        data_dir / "demo-webhook-secret"
    )
    url = f"http://{options.listen}"
    exe = Path(sys.executable).parent / "truenorth"
    print(
        f"""
truenorth demo
  GitOps repository : {repo}  (stacks: network, app [Terraform], hosts [Ansible])
  Web UI            : {url}/#token={token}
  API               : {url}/api/v1/stacks   (OpenAPI: {url}/api/v1/openapi.json, metrics: {url}/metrics)
  API token (admin) : {token}

Watch the stacks converge:
  curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/stacks
  {exe} status --server {url} --token {token}

Commit a change and watch it converge within one poll (10 s), or push a webhook for at once:
  cd {repo}
  sed -i 's/default = 2/default = 3/' stacks/app/main.tf && git commit -qam 'Scale the app to 3'

Ctrl-C stops the controller.
""",
        flush=True,
    )
    env = {**os.environ, "TRUENORTH_TOKEN": token, "TRUENORTH_WEBHOOK_SECRET": webhook_secret}
    # The hosts stack's plays manage files in demo-hosts: its sandboxed applies may write there.
    env.setdefault("TRUENORTH_SANDBOX_WRITABLE", str(data_dir / "demo-hosts"))
    argv = [
        str(exe), "serve", "--repo", repo.as_uri(), "--branch", "main", "--listen", options.listen,
        "--data-dir", str(data_dir), "--poll-interval", "10s",
    ]  # fmt: skip
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
