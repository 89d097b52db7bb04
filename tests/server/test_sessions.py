"""Browser sessions: a token typed once becomes an HttpOnly cookie naming a server-side session.

The cookie never holds the token; changes made with it need the session's CSRF token and
this server's origin; logout and expiry end it; bearer tokens keep working beside it.
"""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from tests.server.conftest import ADMIN, OPERATOR, VIEWER, bearer, make_config
from tests.server.fakes import FakeController
from truenorth.server import sessions
from truenorth.server.app import create_app


def log_in(client: TestClient, token: str) -> dict[str, str]:
    answer = client.post("/api/v1/session", json={"token": token})
    assert answer.status_code == 200, answer.text
    body: dict[str, str] = answer.json()
    return body


def test_login_sets_an_httponly_strict_cookie_that_is_not_the_token(client: TestClient) -> None:
    answer = client.post("/api/v1/session", json={"token": OPERATOR})
    assert answer.status_code == 200
    assert answer.json()["name"] == "ci" and answer.json()["role"] == "operator"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    value = client.cookies[sessions.COOKIE]
    assert OPERATOR not in value and OPERATOR not in str(answer.headers) and len(value) >= 43
    assert OPERATOR not in answer.text


def test_the_cookie_is_secure_over_tls(controller: FakeController) -> None:
    with TestClient(create_app(controller, make_config()), base_url="https://testserver") as client:
        answer = client.post("/api/v1/session", json={"token": VIEWER})
    assert answer.status_code == 200
    assert "Secure" in answer.headers["set-cookie"]


def test_behind_a_tls_proxy_secure_cookies_makes_the_cookie_secure(controller: FakeController) -> None:
    # The proxy ends TLS and speaks plain HTTP here; the browser's origin is https://.
    settings = dataclasses.replace(make_config(), secure_cookies=True)
    with TestClient(create_app(controller, settings), base_url="http://truenorth.example") as client:
        https = {"Origin": "https://truenorth.example"}
        answer = client.post("/api/v1/session", json={"token": OPERATOR}, headers=https)
        assert answer.status_code == 200, answer.text
        assert "Secure" in answer.headers["set-cookie"]
        # The browser sends the Secure cookie over HTTPS; the proxy hands it on over HTTP.
        cookie = answer.headers["set-cookie"].split(";")[0]
        csrf = {sessions.CSRF_HEADER: answer.json()["csrf_token"], "Cookie": cookie}
        plain = {"Origin": "http://truenorth.example"}  # not the page's origin any more
        assert client.post("/api/v1/stacks/network/refresh", headers={**csrf, **plain}).status_code == 403
        assert client.post("/api/v1/stacks/network/refresh", headers={**csrf, **https}).status_code == 202
        ended = client.delete("/api/v1/session", headers={**csrf, **https})
        assert ended.status_code == 204 and "Secure" in ended.headers["set-cookie"]
    # Without the setting, the same proxied login is another origin (and never Secure).
    with TestClient(create_app(controller, make_config()), base_url="http://truenorth.example") as client:
        https = {"Origin": "https://truenorth.example"}
        assert client.post("/api/v1/session", json={"token": OPERATOR}, headers=https).status_code == 403


def test_a_wrong_token_gets_no_session(client: TestClient) -> None:
    answer = client.post("/api/v1/session", json={"token": "not-a-token"})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert client.get("/api/v1/stacks").status_code == 401


def test_the_session_reads_and_acts_with_its_csrf_token(
    client: TestClient, controller: FakeController
) -> None:
    info = log_in(client, OPERATOR)
    assert client.get("/api/v1/stacks").status_code == 200
    assert client.get("/api/v1/session").json()["csrf_token"] == info["csrf_token"]
    # No CSRF token, a wrong one, or another origin: refused, and the controller never asked.
    assert client.post("/api/v1/stacks/network/refresh").status_code == 403
    wrong = {sessions.CSRF_HEADER: "x" * 43}
    assert client.post("/api/v1/stacks/network/refresh", headers=wrong).status_code == 403
    evil = {sessions.CSRF_HEADER: info["csrf_token"], "Origin": "https://evil.example"}
    assert client.post("/api/v1/stacks/network/refresh", headers=evil).status_code == 403
    assert not [c for c in controller.calls if c[0] == "refresh"]
    good = {sessions.CSRF_HEADER: info["csrf_token"], "Origin": "http://testserver"}
    answer = client.post("/api/v1/stacks/network/refresh", headers=good)
    assert answer.status_code == 202
    assert controller.calls[-1] == ("refresh", {"name": "network", "repository": None, "actor": "ci"})


def test_a_viewer_session_is_refused_actions(client: TestClient) -> None:
    info = log_in(client, VIEWER)
    headers = {sessions.CSRF_HEADER: info["csrf_token"]}
    assert client.post("/api/v1/stacks/network/refresh", headers=headers).status_code == 403
    assert client.post("/api/v1/stacks/hosts/approve", headers=headers).status_code == 403


def test_rollback_needs_an_admin_session(client: TestClient) -> None:
    body = {"revision": "a" * 40, "reason": "bad deploy"}
    info = log_in(client, OPERATOR)
    headers = {sessions.CSRF_HEADER: info["csrf_token"]}
    assert client.post("/api/v1/stacks/network/rollback", json=body, headers=headers).status_code == 403
    info = log_in(client, ADMIN)
    headers = {sessions.CSRF_HEADER: info["csrf_token"]}
    assert client.post("/api/v1/stacks/network/rollback", json=body, headers=headers).status_code == 202


def test_logout_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    info = log_in(client, ADMIN)
    assert client.delete("/api/v1/session").status_code == 403
    answer = client.delete("/api/v1/session", headers={sessions.CSRF_HEADER: info["csrf_token"]})
    assert answer.status_code == 204
    assert "Max-Age=0" in answer.headers["set-cookie"] or "expires=" in answer.headers["set-cookie"].lower()
    client.cookies.clear()
    assert client.get("/api/v1/stacks").status_code == 401


def test_a_stolen_session_id_dies_with_logout(client: TestClient) -> None:
    info = log_in(client, ADMIN)
    stolen = client.cookies[sessions.COOKIE]
    client.delete("/api/v1/session", headers={sessions.CSRF_HEADER: info["csrf_token"]})
    client.cookies.set(sessions.COOKIE, stolen)
    assert client.get("/api/v1/stacks").status_code == 401


def test_login_from_another_origin_is_refused(client: TestClient) -> None:
    answer = client.post("/api/v1/session", json={"token": ADMIN}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_bearer_tokens_need_no_csrf_token(client: TestClient) -> None:
    assert client.post("/api/v1/stacks/network/refresh", headers=bearer(OPERATOR)).status_code == 202


def test_sessions_expire_and_are_bounded() -> None:
    now = [1000.0]
    store = sessions.Sessions(ttl=60, limit=2, clock=lambda: now[0])
    first = store.start(name="a", role="viewer")
    assert store.find(first.id) == first
    now[0] += 61
    assert store.find(first.id) is None
    a, b, c = (store.start(name=n, role="viewer") for n in "abc")
    assert store.find(a.id) is None and store.find(b.id) == b and store.find(c.id) == c
    assert store.find("x" * 500) is None and store.find("") is None and store.find("é") is None
