"""The webhook endpoints in the app (cases 11-14) over a stand-in controller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import WEBHOOK_SECRET, make_config
from tests.server.fakes import FakeController
from truenorth.controller.errors import ControllerError
from truenorth.server import signatures
from truenorth.server.app import create_app

DATA = Path(__file__).parent.parent / "data" / "webhooks"


def github(
    body: bytes, *, event: str = "push", delivery: str = "d-1", secret: str = WEBHOOK_SECRET
) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + signatures.sign(secret, body),
        "Content-Type": "application/json",
    }


def signed(provider: str, body: bytes, delivery: str) -> dict[str, str]:
    digest = signatures.sign(WEBHOOK_SECRET, body)
    return {
        "github": github(body, delivery=delivery),
        "gitlab": {
            "X-Gitlab-Token": WEBHOOK_SECRET,
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Event-UUID": delivery,
        },
        "gitea": {"X-Gitea-Signature": digest, "X-Gitea-Event": "push", "X-Gitea-Delivery": delivery},
        "generic": {"X-Truenorth-Signature": f"sha256={digest}", "X-Truenorth-Delivery": delivery},
    }[provider]


BODIES = {
    "github": (DATA / "github-push.json").read_bytes(),
    "gitlab": (DATA / "gitlab-push.json").read_bytes(),
    "gitea": (DATA / "gitea-push.json").read_bytes(),
    "generic": json.dumps(
        {"repository": "https://git.example.com/org/infra.git", "ref": "refs/heads/main"}
    ).encode(),
}


def metric(client: TestClient, provider: str, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'truenorth_webhooks_total{{outcome="{outcome}",provider="{provider}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("provider", list(BODIES))
def test_signed_push_triggers(client: TestClient, controller: FakeController, provider: str) -> None:
    response = client.post(
        f"/api/v1/webhooks/{provider}",
        content=BODIES[provider],
        headers=signed(provider, BODIES[provider], "x1"),
    )
    assert response.status_code == 202
    assert response.json() == {"event": "push", "triggered": ["infra"], "duplicate": False, "ignored": False}
    name, call = controller.calls[-1]
    assert name == "push_received" and call["ref"] == "refs/heads/main"
    assert call["repository_urls"]
    assert call["sha"] == json.loads(BODIES[provider]).get("after")  # the commit it names
    assert metric(client, provider, "triggered") == 1


@pytest.mark.parametrize("provider", list(BODIES))
def test_replayed_delivery_triggers_once(
    client: TestClient, controller: FakeController, provider: str
) -> None:
    headers = signed(provider, BODIES[provider], "same-id")
    first = client.post(f"/api/v1/webhooks/{provider}", content=BODIES[provider], headers=headers)
    again = client.post(f"/api/v1/webhooks/{provider}", content=BODIES[provider], headers=headers)
    assert first.status_code == 202 and first.json()["duplicate"] is False
    assert again.status_code == 202 and again.json()["duplicate"] is True and again.json()["triggered"] == []
    assert len(controller.calls) == 1
    assert metric(client, provider, "duplicate") == 1


def test_unmatched_push_triggers_nothing(client: TestClient, controller: FakeController) -> None:
    controller.push_result = []
    response = client.post(
        "/api/v1/webhooks/github", content=BODIES["github"], headers=github(BODIES["github"])
    )
    assert response.status_code == 202 and response.json()["triggered"] == []
    assert metric(client, "github", "unmatched") == 1


def test_ping_is_200_and_other_events_are_ignored(client: TestClient, controller: FakeController) -> None:
    ping = (DATA / "github-ping.json").read_bytes()
    response = client.post("/api/v1/webhooks/github", content=ping, headers=github(ping, event="ping"))
    assert response.status_code == 200 and response.json()["event"] == "ping"
    issue = client.post(
        "/api/v1/webhooks/github", content=b"{}", headers=github(b"{}", event="issues", delivery="i")
    )
    assert issue.status_code == 202 and issue.json()["ignored"] is True
    assert controller.calls == []


def test_pings_and_ignored_events_still_need_a_signature(client: TestClient) -> None:
    ping = (DATA / "github-ping.json").read_bytes()
    headers = github(ping, event="ping")
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    assert client.post("/api/v1/webhooks/github", content=ping, headers=headers).status_code == 401


@pytest.mark.parametrize("provider", list(BODIES))
def test_unconfigured_secret_is_403(controller: FakeController, provider: str) -> None:
    for secret in (None, ""):
        with TestClient(create_app(controller, make_config(webhook_secret=secret))) as client:
            response = client.post(
                f"/api/v1/webhooks/{provider}",
                content=BODIES[provider],
                headers=signed(provider, BODIES[provider], "x"),
            )
            assert response.status_code == 403
            assert response.json() == {"detail": "webhook secret not configured"}
    assert controller.calls == []


@pytest.mark.parametrize("provider", list(BODIES))
def test_bad_signature_is_401_and_counted(
    client: TestClient, controller: FakeController, provider: str
) -> None:
    headers = signed(provider, BODIES[provider] + b" ", "x")  # signed over other bytes
    if provider == "gitlab":
        headers["X-Gitlab-Token"] = "wrong"
    response = client.post(f"/api/v1/webhooks/{provider}", content=BODIES[provider], headers=headers)
    assert response.status_code == 401
    assert WEBHOOK_SECRET not in response.text
    assert controller.calls == []
    assert metric(client, provider, "unauthorized") == 1


@pytest.mark.parametrize("provider", list(BODIES))
@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'{"ref": null, "repository": null}', b'{"ref": "refs/heads/main", "repository": []}', b""],
    ids=["truncated", "array", "nulls", "repository-array", "empty"],
)
def test_malformed_signed_payloads_are_4xx(
    client: TestClient, controller: FakeController, provider: str, body: bytes
) -> None:
    response = client.post(f"/api/v1/webhooks/{provider}", content=body, headers=signed(provider, body, "m"))
    assert response.status_code in (400, 422)
    assert controller.calls == []


def test_a_bug_in_the_controller_is_still_not_a_500(client: TestClient, controller: FakeController) -> None:
    controller.fail_with = ControllerError("unavailable", "the state database is locked")
    response = client.post(
        "/api/v1/webhooks/github", content=BODIES["github"], headers=github(BODIES["github"])
    )
    assert response.status_code == 503
    # The failed delivery is forgotten: the forge's retry is handled.
    controller.fail_with = None
    retry = client.post("/api/v1/webhooks/github", content=BODIES["github"], headers=github(BODIES["github"]))
    assert retry.status_code == 202 and retry.json()["triggered"] == ["infra"]


def test_unusable_urls_are_not_handed_to_the_controller(
    client: TestClient, controller: FakeController
) -> None:
    body = json.dumps({"repository": "ext::sh -c touch% /tmp/pwned", "ref": "refs/heads/main"}).encode()
    response = client.post("/api/v1/webhooks/generic", content=body, headers=signed("generic", body, "e"))
    assert response.status_code == 202
    assert controller.calls[-1][1]["repository_urls"] == []


def test_oversize_body_is_413_and_counted(client: TestClient, controller: FakeController) -> None:
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = client.post("/api/v1/webhooks/github", content=body, headers=github(body))
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert controller.calls == []
    assert metric(client, "github", "too_large") == 1


def test_exactly_one_mebibyte_is_accepted(client: TestClient) -> None:
    document = json.loads(BODIES["generic"])
    raw = json.dumps(document).encode()
    body = raw[:-1] + b" " * (1024 * 1024 - len(raw)) + b"}"
    assert len(body) == 1024 * 1024
    response = client.post("/api/v1/webhooks/generic", content=body, headers=signed("generic", body, "big"))
    assert response.status_code == 202


def test_unknown_provider_is_422_not_500(client: TestClient) -> None:
    assert client.post("/api/v1/webhooks/bitbucket", content=b"{}").status_code == 422
