"""A controller killed mid-apply never runs an apply's side effects twice.

A real ``truenorth serve`` applies a real Terraform stack whose ``local-exec`` provisioner
writes a start line, waits for a gate file, and writes an end line, to a log outside the
repository. Twenty times: push a commit that replaces the resource, wait until the
provisioner has started, SIGKILL the controller (while the provisioner waits; just as it
is let go; or just after it ended, before Terraform saved its state, the moment that
used to run it twice), start the controller again and wait until it has converged.

The guarantee (``docs/architecture.md``, "Crash safety"): ``terraform apply`` runs on to
its end without the controller; the restarted controller waits for it, marks the run
interrupted and plans again from the state Terraform saved, which shows nothing to
change, so the commit is recorded as applied. A provisioner that completed is never run
again, and no run stays ``running``.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.processes import ServerProcess, github_push, wait_for
from tests.support.gitrepos import GitRepo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash-safety")]

TOKEN = "tn-crash-admin-token-0123456789ab"
WEBHOOK_SECRET = "tn-crash-webhook-secret-0123456789"
KILLS = 20
PUSH = Path(__file__).parent.parent / "data" / "webhooks" / "github-push.json"
SPEC = """\
stacks:
  - name: gated
    engine: terraform
    path: stacks/gated
    auto_apply: true
"""
GATED_TF = """\
resource "terraform_data" "gate" {{
  triggers_replace = "{generation}"
  provisioner "local-exec" {{
    command = "echo start {generation} >> {log}; while [ ! -e {gates}/{generation} ]; do sleep 0.05; done; echo end {generation} >> {log}"
  }}
}}
"""


class Controllers:
    """Starts ``truenorth serve`` on one config again and again; none outlives the test."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.current: ServerProcess | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
        self.env.update(TN_TOKEN=TOKEN, TN_WEBHOOK_SECRET=WEBHOOK_SECRET)

    def start(self) -> ServerProcess:
        server = ServerProcess(["--config", str(self.config)], env=self.env, log=self.tmp_path / "serve.log")
        self.current = server
        return server.start(deadline=120)

    def close(self) -> None:
        if (
            self.current is not None
            and self.current.process is not None
            and self.current.process.poll() is None
        ):
            self.current.kill()


@pytest.fixture
def controllers(tmp_path: Path) -> Iterator[Controllers]:
    config = tmp_path / "truenorth.toml"
    config.write_text(
        f"""\
listen = "127.0.0.1:0"
data_dir = "{tmp_path / "data"}"

[retry]
initial = "1s"
maximum = "2s"
tries = 100

[webhooks]
secret_env = "TN_WEBHOOK_SECRET"

[[tokens]]
name = "admin"
role = "admin"
token_env = "TN_TOKEN"

[[repositories]]
name = "infra"
url = "{(tmp_path / "repo").resolve().as_uri()}"
branch = "main"
poll_interval = "1h"
# The provisioner's log and gates, outside the repository: its sandboxed applies reach them.
sandbox_writable = ["{tmp_path / "out"}", "{tmp_path / "gates"}"]
"""
    )
    found = Controllers(tmp_path, config)
    yield found
    found.close()


def push(server: ServerProcess, repo: GitRepo, delivery: str) -> None:
    body: dict[str, Any] = json.loads(PUSH.read_text())
    body.update(ref="refs/heads/main", after=repo.head())
    body["repository"]["clone_url"] = repo.url
    raw, headers = github_push(body, secret=WEBHOOK_SECRET, delivery=delivery)
    answer = httpx.post(f"{server.url}/api/v1/webhooks/github", content=raw, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text


def converged(server: ServerProcess, sha: str) -> bool:
    """Applied at ``sha`` (by the killed apply, which finished alone, or by a new one),
    nothing left to do, and the last run succeeded."""
    view = server.request("GET", "/api/v1/stacks/gated", token=TOKEN)
    if view.status_code != 200:
        return False
    stack = view.json()
    last = stack.get("last_run") or {}
    if stack["sync_state"] != "synced" or stack["busy"] or last.get("status") != "succeeded":
        return False
    if stack["applied_revision"] != sha:
        return False
    return bool(server.get_json(f"/api/v1/runs/{last['id']}", token=TOKEN)["revision"] == sha)


def test_twenty_sigkills_mid_apply_never_run_a_completed_provisioner_twice(
    tmp_path: Path, controllers: Controllers
) -> None:
    log, gates = tmp_path / "out" / "provisioner.log", tmp_path / "gates"
    gates.mkdir()
    log.parent.mkdir()
    repo = GitRepo(tmp_path / "repo")

    def tf(generation: int) -> dict[str, str]:
        return {"stacks/gated/main.tf": GATED_TF.format(generation=generation, log=log, gates=gates)}

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    def logged(line: str) -> bool:
        return line in lines()

    (gates / "0").touch()
    repo.commit("gated stack", {"truenorth.yaml": SPEC, **tf(0)})
    server = controllers.start()
    wait_for(lambda: converged(server, repo.head()), deadline=120, what="the first apply", interval=0.1)

    began = time.monotonic()
    for generation in range(1, KILLS + 1):
        sha = repo.commit(f"generation {generation}", tf(generation))
        push(server, repo, delivery=f"generation-{generation}")
        wait_for(
            functools.partial(logged, f"start {generation}"), deadline=120, what=f"provisioner {generation}"
        )
        moment = generation % 3
        if moment == 1:  # just as the provisioner is let go
            (gates / str(generation)).touch()
        elif moment == 2:  # it has completed; Terraform has not saved the state yet
            (gates / str(generation)).touch()
            wait_for(
                functools.partial(logged, f"end {generation}"),
                what=f"provisioner {generation} to end",
                interval=0.005,
            )
        server.kill()  # SIGKILL, no clean-up (moment 0: while the provisioner waits)
        (gates / str(generation)).touch()
        server = controllers.start()
        try:
            wait_for(
                functools.partial(converged, server, sha),
                deadline=120,
                what=f"generation {generation}",
                interval=0.1,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- log ---\n{server.logs()[-6000:]}") from None
    seconds = time.monotonic() - began

    ends = collections.Counter(line.split()[1] for line in lines() if line.startswith("end "))
    starts = collections.Counter(line.split()[1] for line in lines() if line.startswith("start "))
    assert {generation: ends[str(generation)] for generation in range(KILLS + 1)} == dict.fromkeys(
        range(KILLS + 1), 1
    ), f"completed provisioners per generation: {ends}; started: {starts}"
    running = server.get_json("/api/v1/runs?status=running&limit=500", token=TOKEN)["items"]
    assert running == []
    interrupted = server.get_json("/api/v1/runs?status=interrupted&limit=500", token=TOKEN)["items"]
    assert len(interrupted) >= KILLS  # every kill hit an apply in flight
    server.terminate()
    print(f"{KILLS} kills in {seconds:.0f}s; provisioner starts per generation: {dict(starts)}")
