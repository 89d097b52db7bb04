"""Driving the real controller through every door, and recording what it answered.

:class:`Driver` wraps one :class:`~tests.security.recording.RecordingServer` and labels
the exchanges the tests judge. :func:`first_phase` (text logs) waits for convergence,
reads every endpoint, acts (approve, refresh, sync, rollback, also where they must fail),
sends hostile tokens, a signed webhook for a new commit with a hostile subject, a replay
and malformed webhooks. :func:`second_phase` (JSON logs, same data dir) makes Git fail
and recover, then pushes a commit that makes every engine fail with messages that would
carry the canaries, reads everything again and runs the CLI against the server.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from typer.testing import CliRunner

from tests.security import forgeries, hostile
from tests.security.canaries import CANARIES
from tests.security.gitserver import TokenGitServer
from tests.security.recording import Exchange, RecordingServer
from tests.server.processes import github_push, wait_for
from tests.server.test_process import push_body
from tests.support.gitrepos import GitRepo
from truenorth.cli import main

__all__ = [
    "CONVERGE",
    "Driver",
    "Scenario",
    "first_phase",
    "second_phase",
    "start",
    "stop",
]

T = TypeVar("T")
A, B, C, D, E, F, G = (CANARIES[k].value for k in "ABCDEFG")
#: Deadline for convergence (real Terraform and Ansible runs on a shared 2-core machine).
CONVERGE = 120.0


@dataclass
class Scenario:
    """Everything the scenario did and recorded."""

    root: Path
    data_dir: Path
    marks: Path
    workdir: Path
    base_dir: Path
    branch: str
    git_url: str = ""
    shas: dict[str, str] = field(default_factory=dict)
    book: list[Exchange] = field(default_factory=list)
    #: label -> the exchange an assertion is about
    labeled: dict[str, Exchange] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    stdout: dict[str, str] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    cli: dict[str, str] = field(default_factory=dict)
    source_errors: list[str] = field(default_factory=list)
    #: stack -> id of its failed run at the breaking commit
    failed_runs: dict[str, int] = field(default_factory=dict)


def server_env(*, log_format: str, base_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
    env.update(
        TRUENORTH_TOKEN=D,
        TRUENORTH_WEBHOOK_SECRET=E,
        TRUENORTH_GIT_TOKEN=G,
        TRUENORTH_SECRET_DEMO_VAULT=F,
        TRUENORTH_LOG_FORMAT=log_format,
    )
    if base_dir is not None:  # the folder the localhost play manages: applies may write it
        env["TRUENORTH_SANDBOX_WRITABLE"] = str(base_dir)
    return env


class Driver:
    """Drives one server process and labels the exchanges the tests check."""

    def __init__(self, server: RecordingServer, scenario: Scenario, repo: GitRepo) -> None:
        self.server = server
        self.sc = scenario
        self.repo = repo

    def call(self, label: str, method: str, path: str, *, token: str | None = D, **kwargs: Any) -> Exchange:
        self.server.request(method, path, token=token, **kwargs)
        exchange = self.server.book[-1]
        self.sc.labeled[label] = exchange
        return exchange

    def get(self, path: str) -> Any:
        return self.server.get_json(path, token=D)

    def stack(self, name: str) -> dict[str, Any] | None:
        response = self.server.request("GET", f"/api/v1/stacks/{name}", token=D)
        return response.json() if response.status_code == 200 else None

    def wait_state(self, name: str, state: str, *, sha: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            view = self.stack(name)
            if view and view["sync_state"] == state and view["desired_revision"] == sha:
                return view
            return None

        return self.waited(reached, what=f"{name} {state} at {sha[:10]}")

    def wait_run(self, run_id: int) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = self.get(f"/api/v1/runs/{run_id}")
            return run if run["finished_at"] else None

        return self.waited(finished, what=f"run {run_id} finished")

    def wait_failed(self, name: str, *, sha: str) -> dict[str, Any]:
        def failed() -> dict[str, Any] | None:
            runs = self.get(f"/api/v1/runs?stack={name}&status=failed")["items"]
            return next((r for r in runs if r["revision"] == sha), None)

        return self.waited(failed, what=f"a failed run of {name} at {sha[:10]}")

    def waited(self, check: Callable[[], T | None], *, what: str) -> T:
        try:
            return wait_for(check, deadline=CONVERGE, what=what, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- server log ---\n{self.server.logs()[-8000:]}") from None

    def read_everything(self, tag: str) -> None:
        """Every GET endpoint: health, metrics, OpenAPI, docs, repositories, stacks, plans, runs, logs."""
        for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"):
            self.call(f"{tag} GET {path}", "GET", path, token=None)
        self.call(f"{tag} repositories", "GET", "/api/v1/repositories")
        stacks = self.get("/api/v1/stacks")["items"]
        for view in stacks:
            name = view["name"]
            self.call(f"{tag} stack {name}", "GET", f"/api/v1/stacks/{name}")
            self.call(f"{tag} plan {name}", "GET", f"/api/v1/stacks/{name}/plan")
            self.call(f"{tag} runs {name}", "GET", f"/api/v1/stacks/{name}/runs")
        for run in self.get("/api/v1/runs?limit=500")["items"]:
            self.call(f"{tag} run {run['id']}", "GET", f"/api/v1/runs/{run['id']}")
            self.call(f"{tag} log {run['id']}", "GET", f"/api/v1/runs/{run['id']}/log?limit=10000")

    def webhook(self, label: str, sha: str, *, delivery: str, clone_url: str | None = None) -> Exchange:
        body = push_body(self.repo, ref=f"refs/heads/{self.sc.branch}")
        body["after"] = sha
        body["repository"]["clone_url"] = clone_url or self.sc.git_url
        raw, headers = github_push(body, secret=E, delivery=delivery)
        return self.call(label, "POST", "/api/v1/webhooks/github", token=None, content=raw, headers=headers)


def start(scenario: Scenario, *, log_format: str) -> RecordingServer:
    args = [
        "--repo", scenario.git_url, "--branch", scenario.branch, "--listen", "127.0.0.1:0",
        "--poll-interval", "1h", "--data-dir", str(scenario.data_dir),
    ]  # fmt: skip
    server = RecordingServer(
        args,
        env=server_env(log_format=log_format, base_dir=scenario.base_dir),
        log=scenario.root / f"server-{log_format}.log",
        book=scenario.book,
    )
    # The controller runs in a working directory of its own: a shell that ever ran a
    # relative `touch PWNED_x` from repository content would leave the file there.
    previous = Path.cwd()
    os.chdir(scenario.workdir)
    try:
        server.start()
    finally:
        os.chdir(previous)
    return server


def stop(server: RecordingServer, scenario: Scenario, *, log_format: str) -> None:
    assert server.process is not None
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    scenario.exit_codes[log_format] = server.process.wait(timeout=60)
    scenario.stdout[log_format] = server.stdout_rest()
    scenario.logs[log_format] = server.logs()


def first_phase(driver: Driver, git: TokenGitServer) -> None:
    """Text logs: converge, read, act, error paths, a signed webhook, hostile requests."""
    sc, repo = driver.sc, driver.repo
    sha1 = sc.shas["first"]
    driver.server.wait_synced(hostile.MAIN_STACK, sha1, token=D, deadline=CONVERGE)
    driver.server.wait_synced(hostile.ANSIBLE_STACK, sha1, token=D, deadline=CONVERGE)
    driver.wait_state(hostile.MANUAL_STACK, "pending-approval", sha=sha1)
    driver.read_everything("converged")

    approved = driver.call("approve pending", "POST", f"/api/v1/stacks/{hostile.MANUAL_STACK}/approve")
    if approved.status == 202:
        driver.wait_run(json.loads(approved.body)["run_id"])
        driver.server.wait_synced(hostile.MANUAL_STACK, sha1, token=D, deadline=CONVERGE)
    driver.call("approve not pending", "POST", f"/api/v1/stacks/{hostile.MANUAL_STACK}/approve")
    driver.call("sync without plan", "POST", f"/api/v1/stacks/{hostile.MAIN_STACK}/sync")
    refreshed = driver.call("refresh", "POST", f"/api/v1/stacks/{hostile.MAIN_STACK}/refresh")
    if refreshed.status == 202:
        driver.wait_run(json.loads(refreshed.body)["run_id"])
    rollback = f"/api/v1/stacks/{hostile.MAIN_STACK}/rollback"
    never = {"revision": "0" * 40, "reason": "<b>why</b>"}
    driver.call("rollback with auto_apply", "POST", rollback, json=never)
    manual_rollback = f"/api/v1/stacks/{hostile.MANUAL_STACK}/rollback"
    driver.call("rollback never applied", "POST", manual_rollback, json=never)
    driver.call(
        "rollback hostile revision",
        "POST",
        rollback,
        json={"revision": f"$(touch {sc.marks}/PWNED_rollback)", "reason": "x"},
    )
    driver.call(
        "rollback option revision", "POST", rollback, json={"revision": "--upload-pack=x", "reason": "x"}
    )
    driver.call("rollback blank reason", "POST", rollback, json={"revision": sha1, "reason": "  "})
    driver.call("unknown stack", "GET", "/api/v1/stacks/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    driver.call("unknown run", "GET", "/api/v1/runs/999999")
    for name, headers in forgeries.hostile_tokens().items():
        driver.call(f"token {name}", "GET", "/api/v1/stacks", token=None, headers=headers)
        driver.call(f"token {name} (rollback)", "POST", rollback, token=None, headers=headers, json={})
    # Secrets in query strings end up in access logs: they must be masked there too.
    driver.call("token in the query", "GET", f"/api/v1/stacks?access_token={D}", token=None)
    driver.call("secret in the query", "POST", f"/api/v1/webhooks/generic?secret={E}", token=None, json={})

    sc.shas["second"] = repo.commit(hostile.SECOND_SUBJECT.format(marks=sc.marks), hostile.second_files())
    git.publish()
    driver.webhook("signed webhook", sc.shas["second"], delivery="delivery-second")
    driver.webhook("replayed webhook", sc.shas["second"], delivery="delivery-second")
    with_credentials = sc.git_url.replace("http://", f"http://x-access-token:{G}@")
    driver.webhook(
        "webhook with credentials in the URL",
        sc.shas["second"],
        delivery="delivery-creds",
        clone_url=with_credentials,
    )
    driver.server.wait_synced(hostile.MAIN_STACK, sc.shas["second"], token=D, deadline=CONVERGE)
    driver.server.wait_synced(hostile.ANSIBLE_STACK, sc.shas["second"], token=D, deadline=CONVERGE)
    for name, (provider, body, headers) in forgeries.malformed_webhooks(
        branch=sc.branch, url=sc.git_url, repo=repo
    ).items():
        driver.call(
            f"webhook {name}",
            "POST",
            f"/api/v1/webhooks/{provider}",
            token=None,
            content=body,
            headers=headers,
        )
    driver.read_everything("after webhook")


def second_phase(driver: Driver, git: TokenGitServer) -> None:
    """JSON logs: Git fails and recovers; then every engine fails on purpose."""
    sc, repo = driver.sc, driver.repo
    driver.waited(lambda: driver.server.request("GET", "/readyz").status_code == 200, what="/readyz")
    git.failing = True
    # The push names a commit the controller has not fetched (one it has would cost no git
    # at all: issue 16), so it fetches, and the failure shows.
    driver.webhook("webhook while git fails", "e" * 40, delivery="delivery-broken")

    def source_error() -> str | None:
        error: str | None = driver.get("/api/v1/repositories")["items"][0]["source_error"]
        return error

    sc.source_errors.append(driver.waited(source_error, what="a source error"))
    driver.call("repositories while git fails", "GET", "/api/v1/repositories")
    driver.call("stack while git fails", "GET", f"/api/v1/stacks/{hostile.MAIN_STACK}")
    git.failing = False

    sc.shas["breaking"] = repo.commit(hostile.BREAKING_SUBJECT, hostile.breaking_files(base_dir=sc.base_dir))
    git.publish()
    driver.webhook("webhook after git recovered", sc.shas["breaking"], delivery="delivery-breaking")
    driver.waited(lambda: source_error() is None, what="the source error to clear")
    for name in (hostile.MAIN_STACK, hostile.FRESH_STACK, hostile.PRECONDITION_STACK, hostile.ANSIBLE_STACK):
        sc.failed_runs[name] = driver.wait_failed(name, sha=sc.shas["breaking"])["id"]
    driver.read_everything("after failures")

    runner = CliRunner()
    for label, argv in {
        "status": ["status"],
        "history": ["history", "--stack", hostile.MAIN_STACK],
        "status json": ["status", "-o", "json"],
        "history json": ["history", "-o", "json", "--limit", "100"],
        "approve and wait": ["approve", hostile.MANUAL_STACK, "--wait"],
        "approve not pending": ["approve", hostile.MANUAL_STACK],
        "rollback never applied": [
            "rollback",
            hostile.MANUAL_STACK,
            "--revision",
            "0" * 40,
            "--reason",
            "why",
        ],
    }.items():
        outcome = runner.invoke(main.app, [*argv, "--server", driver.server.url, "--token", D])
        sc.cli[label] = f"exit {outcome.exit_code}\n{outcome.stdout}\n{outcome.stderr}"
