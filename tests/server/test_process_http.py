"""Hostile HTTP against the real server process: cases 11-15 over real sockets.

Bad webhooks of every kind (size, time, signature, shape, replay) and the token matrix,
sent to ``truenorth serve`` on 127.0.0.1; every answer is checked for its status and
for the absence of any secret, and the server must still be healthy afterwards. Also
the CLI's ``--server`` commands against the same process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tests.server.conftest import ADMIN, GIT_TOKEN, OPERATOR, VIEWER, WEBHOOK_SECRET
from tests.server.processes import ServerProcess, wait_for
from tests.server.test_process import Servers, one_stack_repo
from truenorth.cli import actions
from truenorth.cli import client as cli_client

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

SECRETS = (VIEWER, OPERATOR, ADMIN, WEBHOOK_SECRET, GIT_TOKEN)
MIB = 1024 * 1024
DATA = Path(__file__).parent.parent / "data" / "webhooks"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    found = Servers(tmp_path)
    yield found
    found.close()


def exchange(server: ServerProcess, data: bytes, *, timeout: float = 60.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes; the answer and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(server.address, timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def provider_headers(provider: str, body: bytes, delivery: str) -> dict[str, str]:
    return {
        "github": {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={sign(body)}",
        },
        "gitlab": {
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Event-UUID": delivery,
            "X-Gitlab-Token": WEBHOOK_SECRET,
        },
        "gitea": {"X-Gitea-Event": "push", "X-Gitea-Delivery": delivery, "X-Gitea-Signature": sign(body)},
        "generic": {"X-Truenorth-Delivery": delivery, "X-Truenorth-Signature": f"sha256={sign(body)}"},
    }[provider]


def payload(provider: str, url: str) -> dict[str, Any]:
    if provider == "generic":
        return {"repository": url, "ref": "refs/heads/main"}
    document: dict[str, Any] = json.loads((DATA / f"{provider}-push.json").read_text())
    key = "project" if provider == "gitlab" else "repository"
    document[key]["git_http_url" if provider == "gitlab" else "clone_url"] = url
    return document


def test_bad_webhooks_are_refused_and_the_server_carries_on(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo", auto_apply=False)
    server = servers.configured(repo, TRUENORTH_HTTP_BODY_TIMEOUT="1s", TRUENORTH_HTTP_HEADER_TIMEOUT="1s")
    wait_for(lambda: server.request("GET", "/readyz").status_code == 200, what="/readyz")
    path = "/api/v1/webhooks/github"
    answers: list[str] = []

    # Case 11: one byte over 1 MiB is refused before a byte of the body is sent.
    reply, took = exchange(server, head(path, f"Content-Length: {MIB + 1}", "X-GitHub-Event: push"))
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]
    assert b"connection: close" in reply.lower()
    answers.append(reply.decode("latin-1"))
    # ... and a chunked body is cut at the first byte over the limit.
    chunk = b"x" * (MIB + 1)
    reply, _ = exchange(
        server, head(path, "Transfer-Encoding: chunked") + f"{len(chunk):x}\r\n".encode() + chunk
    )
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]
    # Slow body: half a body, then nothing, gets 408 after the body deadline.
    reply, took = exchange(server, head(path, "Content-Length: 100") + b'{"ref": ')
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:100]
    assert 0.9 < took < 30
    # Slow headers: the connection is closed after the header deadline.
    reply, took = exchange(server, b"POST /api/v1/webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert reply == b"" and 0.9 < took < 30
    # Oversized headers are refused.
    reply, _ = exchange(server, head(path, "X-Padding: " + "a" * 70_000))
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:100]

    fetches = server.metric("truenorth_git_fetch_duration_seconds_count", repository="infra")
    plan_runs = len(server.get_json("/api/v1/runs?limit=500", token=ADMIN)["items"])
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for provider in ("github", "gitlab", "gitea", "generic"):
            body = json.dumps(payload(provider, repo.url)).encode()
            good = provider_headers(provider, body, f"{provider}-good")
            bad_signatures = _bad_signatures(provider, body, good)
            for label, headers in bad_signatures:
                response = client.post(f"/api/v1/webhooks/{provider}", content=body, headers=headers)
                assert response.status_code == 401, (provider, label, response.text)
                answers.append(response.text)
            for label, bad_body in _bad_bodies(provider, repo.url):
                headers = provider_headers(provider, bad_body, f"{provider}-{label}")
                response = client.post(f"/api/v1/webhooks/{provider}", content=bad_body, headers=headers)
                assert response.status_code in (400, 422), (provider, label, response.text)
                answers.append(response.text)
        assert server.metric("truenorth_git_fetch_duration_seconds_count", repository="infra") == fetches
        assert len(server.get_json("/api/v1/runs?limit=500", token=ADMIN)["items"]) == plan_runs

        # Case 14: a replayed delivery id triggers once.
        body = json.dumps(payload("github", repo.url)).encode()
        headers = provider_headers("github", body, "replayed")
        first = client.post(path, content=body, headers=headers)
        again = client.post(path, content=body, headers=headers)
        assert first.status_code == 202 and first.json()["triggered"] == ["infra"]
        assert again.status_code == 202 and again.json() == {
            "event": "push",
            "triggered": [],
            "duplicate": True,
            "ignored": False,
        }
        # A push for another repository or branch triggers nothing.
        other = json.dumps(payload("generic", "https://git.example.com/else.git")).encode()
        assert (
            client.post(
                "/api/v1/webhooks/generic", content=other, headers=provider_headers("generic", other, "o")
            ).json()["triggered"]
            == []
        )
        tag = payload("github", repo.url) | {"ref": "refs/heads/feature"}
        raw = json.dumps(tag).encode()
        assert (
            client.post(path, content=raw, headers=provider_headers("github", raw, "t")).json()["triggered"]
            == []
        )

    assert server.request("GET", "/healthz").status_code == 200
    assert server.metric("truenorth_webhooks_total", provider="github", outcome="too_large") == 2
    assert server.metric("truenorth_webhooks_total", provider="github", outcome="timeout") == 1
    assert server.metric("truenorth_webhooks_total", provider="gitea", outcome="unauthorized") >= 4
    assert server.metric("truenorth_webhooks_total", provider="github", outcome="duplicate") == 1
    for text in answers:
        assert not any(secret in text for secret in SECRETS)
    webhook_lines = [line for line in server.logs().splitlines() if "/api/v1/webhooks/" in line]
    assert webhook_lines and not [line for line in webhook_lines if 'HTTP/1.1" 5' in line]
    for secret in SECRETS:
        assert secret not in server.logs()


def _bad_signatures(provider: str, body: bytes, good: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    reserialised = json.dumps(json.loads(body), indent=2).encode()
    sha1 = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).hexdigest()
    header = {
        "github": "X-Hub-Signature-256",
        "gitlab": "X-Gitlab-Token",
        "gitea": "X-Gitea-Signature",
        "generic": "X-Truenorth-Signature",
    }[provider]
    without = {k: v for k, v in good.items() if k != header}
    cases = [("missing", without), ("empty", {**without, header: ""})]
    if provider == "gitlab":
        return [*cases, ("wrong token", {**without, header: WEBHOOK_SECRET[:-1]})]
    prefix = "" if provider == "gitea" else "sha256="
    return [
        *cases,
        ("sha1", {**without, header: ("" if provider == "gitea" else "sha1=") + sha1}),
        ("bad hex", {**without, header: prefix + "q" * 64}),
        ("re-serialised", {**without, header: prefix + sign(reserialised)}),
        ("wrong secret", {**without, header: prefix + sign(body, "not-the-secret")}),
    ]


def _bad_bodies(provider: str, url: str) -> list[tuple[str, bytes]]:
    def changed(**fields: Any) -> bytes:
        return json.dumps(payload(provider, url) | fields).encode()

    cases = [
        ("not-json", b'{"ref": "refs/heads/main", '),
        ("array", b"[]"),
        ("repository-null", changed(repository=None)),
        ("repository-array", changed(repository=[url])),
        ("ref-missing", json.dumps({k: v for k, v in payload(provider, url).items() if k != "ref"}).encode()),
        ("ref-number", changed(ref=7)),
    ]
    if provider != "generic":
        cases.append(("commits-object", changed(commits={"id": "abc"})))
    return cases


def test_token_matrix_no_secrets_and_the_cli_against_the_server(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo", auto_apply=False)
    server = servers.configured(repo, webhook_secret=False)
    sha = repo.head()

    def pending() -> bool:
        response = server.request("GET", "/api/v1/stacks/network", token=VIEWER)
        return response.status_code == 200 and response.json()["sync_state"] == "pending-approval"

    wait_for(pending, what="network pending approval")
    texts: list[str] = []

    def call(method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        response = server.request(method, path, token=token, **kwargs)
        texts.append(response.text)
        return response

    for token in (None, "not-a-token-at-all-123", VIEWER + "x"):
        response = call("GET", "/api/v1/stacks", token)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    rollback = {"json": {"revision": sha, "reason": "test"}}
    for action in ("refresh", "sync", "approve"):
        assert call("POST", f"/api/v1/stacks/network/{action}", VIEWER).status_code == 403
    assert call("POST", "/api/v1/stacks/network/rollback", VIEWER, **rollback).status_code == 403
    assert call("POST", "/api/v1/stacks/network/rollback", OPERATOR, **rollback).status_code == 403
    refreshed = call("POST", "/api/v1/stacks/network/refresh", OPERATOR)
    assert refreshed.status_code == 202
    assert server.get_json(f"/api/v1/runs/{refreshed.json()['run_id']}", token=VIEWER)["actor"] == "ci"
    for path in (
        "/api/v1/repositories",
        "/api/v1/stacks",
        "/api/v1/runs",
        "/api/v1/stacks/network/plan",
        "/metrics",
        "/readyz",
    ):
        assert call("GET", path, ADMIN).status_code == 200, path
    # No webhook secret configured: every webhook is refused.
    body = json.dumps({"repository": repo.url, "ref": "refs/heads/main"}).encode()
    refused = call(
        "POST",
        "/api/v1/webhooks/generic",
        None,
        content=body,
        headers={"X-Truenorth-Signature": "sha256=" + sign(body, "")},
    )
    assert refused.status_code == 403 and refused.json() == {"detail": "webhook secret not configured"}
    for text in texts:
        assert not any(secret in text for secret in SECRETS)

    # The CLI against the server: viewer cannot approve, operator can and waits for the run.
    app = typer.Typer()
    actions.register(app)

    @app.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps typer from collapsing to one
        """Nothing."""

    runner = CliRunner()
    wait_for(lambda: not server.stack("network", token=VIEWER)["busy"] or None, what="refresh to end")
    wait_for(pending, what="network pending approval again")
    denied = runner.invoke(app, ["approve", "network", "--server", server.url, "--token", VIEWER])
    assert denied.exit_code == 1 and "403" in denied.stderr and VIEWER not in denied.stderr
    missing = runner.invoke(app, ["sync", "network"])
    assert missing.exit_code == 1 and "needs --server" in missing.stderr
    approved = runner.invoke(
        app, ["approve", "network", "--server", server.url, "--token", OPERATOR, "--wait"]
    )
    assert approved.exit_code == 0, approved.stdout + approved.stderr
    assert "succeeded" in approved.stdout
    server.wait_synced("network", sha, token=VIEWER)
    never = runner.invoke(
        app,
        [
            "rollback",
            "network",
            "--revision",
            "0" * 40,
            "--reason",
            "test",
            "--server",
            server.url,
            "--token",
            ADMIN,
        ],
    )
    assert never.exit_code == 1 and "server answered 4" in never.stderr

    status = cli_client.remote_status(server.url, VIEWER)
    assert status["source_errors"] == []
    stacks = status["stacks"]
    assert [(s["name"], s["sync_state"], s["applied_revision"]) for s in stacks] == [
        ("network", "synced", sha)
    ]
    history = cli_client.remote_history(server.url, VIEWER, "network", 10)
    applies = [r for r in history if r["kind"] == "apply"]
    assert applies[0]["actor"] == "ci" and applies[0]["status"] == "succeeded"
    assert len(cli_client.remote_history(server.url, VIEWER, None, 1)) == 1
    stack_runs = server.get_json("/api/v1/stacks/network/runs?repository=infra", token=VIEWER)
    assert stack_runs["total"] == len(history) >= 3  # plan, refresh's plan, apply
    assert {r["repository"] for r in stack_runs["items"]} == {"infra"}
    plan = server.get_json("/api/v1/stacks/network/plan", token=VIEWER)
    assert (
        plan["revision"] == sha and "artifact" not in plan["summary"] and "fingerprint" not in plan["summary"]
    )
