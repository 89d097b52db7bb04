"""API tokens (case 15): 401 without a valid token, 403 without the role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import ADMIN, OPERATOR, SECRETS, VIEWER, bearer
from tests.server.fakes import SHA_A, FakeController
from truenorth.server import auth

READS = [
    ("GET", "/api/v1/repositories"),
    ("GET", "/api/v1/stacks"),
    ("GET", "/api/v1/stacks/network"),
    ("GET", "/api/v1/stacks/network/runs"),
    ("GET", "/api/v1/runs"),
]
OPERATIONS = [
    ("POST", "/api/v1/stacks/network/refresh"),
    ("POST", "/api/v1/stacks/network/sync"),
    ("POST", "/api/v1/stacks/network/approve"),
]
ROLLBACK = ("POST", "/api/v1/stacks/network/rollback")
ROLLBACK_BODY = {"revision": SHA_A, "reason": "bad release"}


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body = ROLLBACK_BODY if path.endswith("/rollback") else None
    return client.request(method, path, headers=headers, json=body).status_code


BAD_HEADERS = [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": ""}, id="empty"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
    pytest.param({"Authorization": "Bearer "}, id="bearer-blank"),
    pytest.param({"Authorization": f"Basic {ADMIN}"}, id="basic-scheme"),
    pytest.param({"Authorization": ADMIN}, id="no-scheme"),
    pytest.param({"Authorization": f"Bearer {ADMIN}x"}, id="token-plus-one"),
    pytest.param({"Authorization": f"Bearer {ADMIN[:-1]}"}, id="token-prefix"),
    pytest.param({"Authorization": "Bearer revoked-token-0123456789"}, id="unknown-or-revoked"),
    pytest.param({"Authorization": "Bearer " + "x" * 5000}, id="huge"),
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
@pytest.mark.parametrize(("method", "path"), [*READS, *OPERATIONS, ROLLBACK])
def test_missing_or_bad_token_is_401(
    shared_client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = shared_client.request(
        method, path, headers=headers, json=ROLLBACK_BODY if "rollback" in path else None
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert set(response.json()) == {"detail"}


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    assert client.get("/api/v1/stacks", headers={"Authorization": f"bearer {VIEWER}"}).status_code == 200


@pytest.mark.parametrize(
    ("token", "reads", "operations", "rollback"),
    [(VIEWER, 200, 403, 403), (OPERATOR, 200, 202, 403), (ADMIN, 200, 202, 202)],
    ids=["viewer", "operator", "admin"],
)
def test_role_matrix(
    client: TestClient, controller: FakeController, token: str, reads: int, operations: int, rollback: int
) -> None:
    for method, path in READS:
        assert call(client, method, path, bearer(token)) == reads, path
    for method, path in OPERATIONS:
        assert call(client, method, path, bearer(token)) == operations, path
    assert call(client, *ROLLBACK, bearer(token)) == rollback
    expected_actions = (3 if operations == 202 else 0) + (1 if rollback == 202 else 0)
    assert len(controller.calls) == expected_actions


def test_forbidden_names_the_missing_role_but_no_token(client: TestClient) -> None:
    response = client.post("/api/v1/stacks/network/sync", headers=bearer(VIEWER))
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]
    assert VIEWER not in response.text


def test_actor_is_the_tokens_name(client: TestClient, controller: FakeController) -> None:
    client.post("/api/v1/stacks/network/sync", headers=bearer(OPERATOR))
    client.post("/api/v1/stacks/network/rollback", headers=bearer(ADMIN), json=ROLLBACK_BODY)
    assert [c[1]["actor"] for c in controller.calls] == ["ci", "alice"]


def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_no_tokens_configured_means_every_call_is_401() -> None:
    tokens = auth.Tokens([])
    assert tokens.identify("") is None
    assert tokens.identify("anything") is None


def test_identify_compares_against_every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    tokens = auth.Tokens([("a", "viewer", VIEWER), ("b", "operator", OPERATOR), ("c", "admin", ADMIN)])
    found = tokens.identify(VIEWER)
    assert found == auth.Principal("a", "viewer")
    # No early exit: the first token matched, yet all three were compared.
    assert len(compared) == 3


def test_no_secret_in_any_auth_answer(client: TestClient) -> None:
    for headers in (bearer(VIEWER), bearer(OPERATOR), bearer("nope-nope-nope-nope"), {}):
        for method, path in [*READS, *OPERATIONS, ROLLBACK]:
            text = client.request(method, path, headers=headers, json=ROLLBACK_BODY).text
            assert not any(secret in text for secret in SECRETS), path
