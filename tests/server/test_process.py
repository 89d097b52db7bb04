"""The real ``truenorth serve`` process on 127.0.0.1, real Git repositories, real Terraform.

Each test starts the server as a child process (``--listen 127.0.0.1:0``), waits for
``/healthz`` with a deadline, and drives it over HTTP like a forge, a user and
Prometheus would. The poll interval is one hour, so anything that converges did so
because of a webhook or a retry, not a poll.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import ADMIN, GIT_TOKEN, OPERATOR, VIEWER, WEBHOOK_SECRET
from tests.server.processes import ServerProcess, github_push, wait_for
from tests.support.gitrepos import GitRepo
from truenorth.engines import processes, survivors

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

DATA = Path(__file__).parent.parent / "data" / "webhooks"
SECRETS = (VIEWER, OPERATOR, ADMIN, WEBHOOK_SECRET, GIT_TOKEN)
ONE_STACK = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    auto_apply: {auto_apply}
"""
NETWORK_TF = """\
resource "terraform_data" "vpc" {{
  input = {{ cidr = "{cidr}" }}
}}
"""


def one_stack_repo(path: Path, *, auto_apply: bool = True) -> GitRepo:
    repo = GitRepo(path)
    repo.commit(
        "network stack",
        {
            "truenorth.yaml": ONE_STACK.format(auto_apply=str(auto_apply).lower()),
            "stacks/network/main.tf": NETWORK_TF.format(cidr="10.0.0.0/16"),
        },
    )
    return repo


def push_body(repo: GitRepo, *, ref: str = "refs/heads/main") -> dict[str, Any]:
    """The recorded GitHub push payload, pointed at ``repo``."""
    document: dict[str, Any] = json.loads((DATA / "github-push.json").read_text())
    document["ref"] = ref
    document["after"] = repo.head()
    document["repository"]["clone_url"] = repo.url
    return document


class Servers:
    """Starts servers for one test and makes sure none outlives it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[ServerProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
        env.update(extra)
        return env

    def quick_start(self, repo: GitRepo, *, name: str = "server", **env: str) -> ServerProcess:
        """``truenorth serve --repo URL`` with the token and secret from the environment."""
        args = [
            "--repo", repo.url, "--listen", "127.0.0.1:0", "--poll-interval", "1h",
            "--data-dir", str(self.tmp_path / "data"),
        ]  # fmt: skip
        environment = self.env(TRUENORTH_TOKEN=ADMIN, TRUENORTH_WEBHOOK_SECRET=WEBHOOK_SECRET, **env)
        return self._start(ServerProcess(args, env=environment, log=self.tmp_path / f"{name}.log"))

    def configured(
        self, repo: GitRepo, *, webhook_secret: bool = True, name: str = "server", **env: str
    ) -> ServerProcess:
        """``truenorth serve --config FILE`` with a token per role and a fast retry."""
        config = self.tmp_path / "truenorth.toml"
        config.write_text(
            f"""\
listen = "127.0.0.1:0"
data_dir = "{self.tmp_path / "data"}"

[retry]
initial = "1s"
maximum = "2s"
tries = 100

[[repositories]]
name = "infra"
url = "{repo.url}"
branch = "main"
poll_interval = "1h"
credentials_env = "TN_GIT_TOKEN"
sandbox_writable = ["{self.tmp_path / "gated"}"]

{"[webhooks]" + chr(10) + 'secret_env = "TN_WEBHOOK_SECRET"' if webhook_secret else ""}

[[tokens]]
name = "dashboard"
role = "viewer"
token_env = "TN_VIEWER"

[[tokens]]
name = "ci"
role = "operator"
token_env = "TN_OPERATOR"

[[tokens]]
name = "alice"
role = "admin"
token_env = "TN_ADMIN"
"""
        )
        environment = self.env(
            TN_VIEWER=VIEWER,
            TN_OPERATOR=OPERATOR,
            TN_ADMIN=ADMIN,
            TN_WEBHOOK_SECRET=WEBHOOK_SECRET,
            TN_GIT_TOKEN=GIT_TOKEN,
            **env,
        )
        return self._start(
            ServerProcess(["--config", str(config)], env=environment, log=self.tmp_path / f"{name}.log")
        )

    def _start(self, server: ServerProcess) -> ServerProcess:
        self.started.append(server)
        return server.start()

    def close(self) -> None:
        for server in self.started:
            if server.process is not None and server.process.poll() is None:
                server.kill()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    found = Servers(tmp_path)
    yield found
    found.close()


def runs(server: ServerProcess, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    items: list[dict[str, Any]] = server.get_json(f"/api/v1/runs?limit=500&{query}", token=ADMIN)["items"]
    return items


# ---------------------------------------------------------------- push, then a webhook


def test_signed_push_webhook_applies_without_waiting_for_a_poll(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo")
    server = servers.quick_start(repo)
    first = server.wait_synced("network", repo.head(), token=ADMIN)
    assert first["applied_commit"]["subject"] == "network stack"

    new = repo.commit(
        "network: widen the VPC", {"stacks/network/main.tf": NETWORK_TF.format(cidr="10.1.0.0/16")}
    )
    raw, headers = github_push(push_body(repo), secret=WEBHOOK_SECRET, delivery="delivery-1")
    started = time.monotonic()
    response = httpx.post(f"{server.url}/api/v1/webhooks/github", content=raw, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["triggered"] == ["default"]
    view = server.wait_synced("network", new, token=ADMIN)
    elapsed = time.monotonic() - started

    assert len(view["applied_revision"]) == 40
    assert view["applied_commit"] == {
        "sha": new,
        "author": "Test Author",
        "date": view["applied_commit"]["date"],
        "subject": "network: widen the VPC",
    }
    listed = server.get_json("/api/v1/stacks?sync_state=synced", token=ADMIN)
    assert [(s["name"], s["applied_revision"]) for s in listed["items"]] == [("network", new)]
    print(f"webhook to synced (plan + apply with Terraform): {elapsed:.2f}s")
    assert server.metric("truenorth_webhooks_total", provider="github", outcome="triggered") == 1
    # A graceful stop: SIGTERM ends the process cleanly, after stopping the controller.
    assert server.terminate() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.logs()


def test_webhook_flood_coalesces_into_one_fetch(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo")
    server = servers.quick_start(repo)
    server.wait_synced("network", repo.head(), token=ADMIN)
    fetches = server.metric("truenorth_git_fetch_duration_seconds_count", repository="default")
    applies = len(runs(server, kind="apply"))

    new = repo.commit("network: widen", {"stacks/network/main.tf": NETWORK_TF.format(cidr="10.2.0.0/16")})
    deliveries = [
        github_push(push_body(repo), secret=WEBHOOK_SECRET, delivery=f"flood-{n}") for n in range(50)
    ]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(
            pool.map(
                lambda d: client.post(f"{server.url}/api/v1/webhooks/github", content=d[0], headers=d[1]),
                deliveries,
            )
        )
    assert [a.status_code for a in answers] == [202] * 50
    assert all(a.json()["triggered"] == ["default"] for a in answers)
    server.wait_synced("network", new, token=ADMIN)

    assert server.metric("truenorth_git_fetch_duration_seconds_count", repository="default") - fetches == 1
    assert len(runs(server, kind="apply")) - applies == 1
    assert server.metric("truenorth_webhooks_total", provider="github", outcome="triggered") == 50


# ---------------------------------------------------------------- SIGKILL mid-apply

GATED_TF = """\
resource "terraform_data" "gate" {{
  triggers_replace = "{generation}"
  provisioner "local-exec" {{
    command = "if [ -p {gate} ]; then echo blocked > {pidfile}; cat {gate} > /dev/null; fi"
  }}
}}
"""


def test_sigkill_mid_apply_then_restart_marks_interrupted_and_converges(
    tmp_path: Path, servers: Servers
) -> None:
    # In a folder its (sandboxed) applies may reach: the configuration's sandbox_writable.
    gate, pidfile = tmp_path / "gated" / "gate.fifo", tmp_path / "gated" / "blocked"
    gate.parent.mkdir()
    repo = GitRepo(tmp_path / "repo")

    def tf(generation: int) -> dict[str, str]:
        return {"stacks/network/main.tf": GATED_TF.format(generation=generation, gate=gate, pidfile=pidfile)}

    repo.commit("gated stack", {"truenorth.yaml": ONE_STACK.format(auto_apply="true"), **tf(1)})
    server = servers.configured(repo, name="first")
    server.wait_synced("network", repo.head(), token=ADMIN)

    os.mkfifo(gate)
    new = repo.commit("generation 2", tf(2))
    raw, headers = github_push(push_body(repo), secret=WEBHOOK_SECRET, delivery="before-kill")
    assert httpx.post(f"{server.url}/api/v1/webhooks/github", content=raw, headers=headers).status_code == 202
    # The provisioner says it blocks on the FIFO: we are mid-apply.
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the apply to block")
    assert server.stack("network", token=ADMIN)["sync_state"] == "applying"
    [running] = runs(server, stack="network", kind="apply", status="running")
    killed_run = running["id"]
    assert running["revision"] == new
    # Terraform, as the run's process record names it (inside its sandbox its own pid differs).
    record = survivors.read_record(tmp_path / "data" / "runs" / str(killed_run) / processes.RECORD_FILE)
    assert record is not None
    terraform_pid = record.pid

    server.kill()  # SIGKILL: no cleanup at all
    os.killpg(os.getpgid(terraform_pid), signal.SIGKILL)  # what dies with the container
    wait_for(lambda: not _alive(terraform_pid), what="terraform to die")
    gate.unlink()

    restarted = servers.configured(repo, name="second")
    view = restarted.wait_synced("network", new, token=ADMIN)
    run = restarted.get_json(f"/api/v1/runs/{killed_run}", token=ADMIN)
    assert run["kind"] == "apply" and run["status"] == "interrupted"
    assert view["last_run"]["status"] == "succeeded"
    # Re-planned from the live state after the restart, then applied; never two applies at once.
    applies = sorted(runs(restarted, stack="network", kind="apply"), key=lambda r: r["started_at"])
    for earlier, later in itertools.pairwise(applies):
        assert earlier["finished_at"] is not None
        assert datetime.fromisoformat(earlier["finished_at"]) <= datetime.fromisoformat(later["started_at"])
    plans_after = [r for r in runs(restarted, stack="network", kind="plan") if r["id"] > killed_run]
    assert plans_after, "the stack was not planned again after the restart"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); its state says it is gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------- Git outage


def test_git_outage_keeps_state_applies_nothing_and_recovers(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo")
    server = servers.configured(repo)
    first = repo.head()
    server.wait_synced("network", first, token=ADMIN)
    applies = len(runs(server, kind="apply"))

    away = tmp_path / "repo-away"
    repo.path.rename(away)
    # The push names a commit the controller has not fetched (one it has costs no git at
    # all), so it must reach the repository, and finds it gone.
    unseen = hashlib.sha1(b"a commit pushed during the outage").hexdigest()
    raw, headers = github_push(_body_for(unseen, repo), secret=WEBHOOK_SECRET, delivery="outage")
    assert httpx.post(f"{server.url}/api/v1/webhooks/github", content=raw, headers=headers).status_code == 202

    def source_error() -> str | None:
        repos = server.get_json("/api/v1/repositories", token=VIEWER)["items"]
        return repos[0]["source_error"]

    error = wait_for(source_error, what="a source error")
    assert "repo" in error or "git" in error.lower()
    view = server.stack("network", token=VIEWER)
    assert view["sync_state"] == "synced" and view["applied_revision"] == first
    assert server.get_json("/api/v1/repositories", token=VIEWER)["items"][0]["revision"] == first
    assert server.metric("truenorth_git_errors_total", repository="infra") >= 1

    # A commit lands while the server cannot see the repository; then Git comes back.
    moved = GitRepo.__new__(GitRepo)
    moved.path = away
    new = moved.commit("while away", {"stacks/network/main.tf": NETWORK_TF.format(cidr="10.3.0.0/16")})
    assert len(runs(server, kind="apply")) == applies  # nothing applied during the outage
    away.rename(repo.path)
    # No webhook: the retry (1s doubling to 2s) finds it by itself.
    server.wait_synced("network", new, token=VIEWER)
    assert source_error() is None


def _body_for(sha: str, repo: GitRepo) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / "github-push.json").read_text())
    document["after"] = sha
    document["repository"]["clone_url"] = repo.url
    return document
