"""The REST API over a stand-in controller and a real store: shapes, paging, errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import (
    ADMIN,
    GIT_TOKEN,
    OPERATOR,
    SECRETS,
    VIEWER,
    WEBHOOK_SECRET,
    bearer,
    make_config,
)
from tests.server.fakes import REPO_KEY, SHA_A, SHA_B, FakeController, stack_view
from truenorth.controller.errors import ControllerError
from truenorth.server.app import create_app

V = bearer(VIEWER)


def test_lifespan_starts_and_stops_the_controller(controller: FakeController) -> None:
    with TestClient(create_app(controller, make_config())):
        assert controller.started and not controller.stopped
    assert controller.stopped


def test_repositories(client: TestClient) -> None:
    body = client.get("/api/v1/repositories", headers=V).json()
    assert body["items"][0]["name"] == "infra"
    assert body["items"][0]["revision"] == SHA_A
    assert body["items"][0]["source_error"] is None


def test_stacks_list_shape(client: TestClient) -> None:
    body = client.get("/api/v1/stacks", headers=V).json()
    assert body["total"] == 3 and body["limit"] == 100 and body["offset"] == 0
    network = body["items"][0]
    assert network["name"] == "network"
    assert network["sync_state"] == "synced"
    assert network["applied_revision"] == SHA_A
    assert network["applied_commit"] == {
        "sha": SHA_A,
        "author": "Test Author",
        "date": "2024-05-15T10:00:00+00:00",
        "subject": "init",
    }
    assert body["items"][1]["depends_on"] == ["network"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("engine=ansible", ["hosts"]),
        ("sync_state=out-of-sync", ["app"]),
        ("health=unknown", ["hosts"]),
        ("q=WORK", ["network"]),
        ("repository=infra", ["network", "app", "hosts"]),
        ("repository=other", []),
        ("limit=2", ["network", "app"]),
        ("limit=2&offset=2", ["hosts"]),
        ("offset=10", []),
    ],
)
def test_stacks_filters_and_paging(client: TestClient, query: str, names: list[str]) -> None:
    body = client.get(f"/api/v1/stacks?{query}", headers=V).json()
    assert [s["name"] for s in body["items"]] == names


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "offset=-1", "limit=abc"])
def test_bad_paging_is_422(client: TestClient, query: str) -> None:
    response = client.get(f"/api/v1/stacks?{query}", headers=V)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("invalid request: query.")


def test_one_stack_and_404(client: TestClient) -> None:
    assert client.get("/api/v1/stacks/app", headers=V).json()["sync_state"] == "out-of-sync"
    missing = client.get("/api/v1/stacks/nope", headers=V)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no stack named 'nope'"}


@pytest.mark.parametrize(
    ("kind", "status"), [("not_found", 404), ("conflict", 409), ("invalid", 422), ("unavailable", 503)]
)
def test_controller_errors_map_to_status(
    client: TestClient, controller: FakeController, kind: str, status: int
) -> None:
    controller.fail_with = ControllerError(kind, "another operation is already in progress")
    response = client.post("/api/v1/stacks/network/sync", headers=bearer(OPERATOR))
    assert response.status_code == status
    assert response.json() == {"detail": "another operation is already in progress"}


def test_actions_return_202_with_the_run_id(client: TestClient, controller: FakeController) -> None:
    for action in ("refresh", "sync", "approve"):
        response = client.post(f"/api/v1/stacks/network/{action}?repository=infra", headers=bearer(OPERATOR))
        assert response.status_code == 202
        run = controller.store.get_run(response.json()["run_id"])
        assert run is not None and run.actor == "ci"
    assert [c[0] for c in controller.calls] == ["refresh", "sync", "approve"]
    assert all(c[1]["repository"] == "infra" for c in controller.calls)


def test_rollback_records_reason_and_needs_one(client: TestClient, controller: FakeController) -> None:
    ok = client.post(
        "/api/v1/stacks/network/rollback",
        headers=bearer(ADMIN),
        json={"revision": SHA_A.upper(), "reason": " bad "},
    )
    assert ok.status_code == 202
    assert controller.calls[-1] == (
        "rollback",
        {"name": "network", "repository": None, "actor": "alice", "revision": SHA_A, "reason": "bad"},
    )
    for body in (
        {"revision": SHA_A},
        {"revision": SHA_A, "reason": ""},
        {"revision": SHA_A, "reason": "   "},
        {"revision": "main", "reason": "x"},
        {"revision": "--force", "reason": "x"},
        {"reason": "x"},
        [],
    ):
        response = client.post("/api/v1/stacks/network/rollback", headers=bearer(ADMIN), json=body)
        assert response.status_code == 422, body
    assert len(controller.calls) == 1


def test_validation_errors_do_not_echo_input(client: TestClient) -> None:
    response = client.post(
        "/api/v1/stacks/network/rollback",
        headers=bearer(ADMIN),
        json={"revision": WEBHOOK_SECRET, "reason": "x"},
    )
    assert response.status_code == 422
    assert WEBHOOK_SECRET not in response.text
    assert response.json()["errors"][0]["loc"] == "body.revision"
    broken = client.post(
        "/api/v1/stacks/network/rollback",
        headers={**bearer(ADMIN), "content-type": "application/json"},
        content=b'{"reason": "' + GIT_TOKEN.encode() + b'", ',
    )
    assert broken.status_code == 422
    assert GIT_TOKEN not in broken.text


def test_runs_plan_and_logs(client: TestClient, controller: FakeController) -> None:
    store = controller.store
    plan_id = store.start_run(
        stack="network", repository=REPO_KEY, revision=SHA_B, kind="plan", actor="controller"
    )
    store.append_log(plan_id, ["Terraform will perform the following actions:", "  + terraform_data.vpc"])
    store.finish_run(
        plan_id,
        status="succeeded",
        summary={
            "add": 1,
            "change": 0,
            "destroy": 0,
            "has_changes": True,
            "artifact": "/data/x/plan.tfplan",
            "fingerprint": "f00d",
        },
        changes=[{"address": "terraform_data.vpc", "action": "create"}],
        output="+ terraform_data.vpc",
    )
    plan = client.get("/api/v1/stacks/network/plan", headers=V)
    assert plan.status_code == 200
    body = plan.json()
    assert body["run_id"] == plan_id and body["repository"] == "infra"
    assert body["summary"] == {"add": 1, "change": 0, "destroy": 0, "has_changes": True}
    assert body["changes"] == [{"address": "terraform_data.vpc", "action": "create"}]
    assert "plan.tfplan" not in plan.text and "f00d" not in plan.text

    runs = client.get("/api/v1/stacks/network/runs", headers=V).json()
    assert runs["total"] == 1 and runs["items"][0]["id"] == plan_id
    assert runs["items"][0]["repository"] == "infra"
    assert client.get("/api/v1/stacks/app/runs", headers=V).json()["total"] == 0
    everything = client.get("/api/v1/runs?kind=plan&repository=infra", headers=V).json()
    assert [r["id"] for r in everything["items"]] == [plan_id]
    assert client.get("/api/v1/runs?repository=nope", headers=V).status_code == 404

    detail = client.get(f"/api/v1/runs/{plan_id}", headers=V).json()
    assert detail["output"] == "+ terraform_data.vpc" and "artifact" not in detail["summary"]
    log = client.get(f"/api/v1/runs/{plan_id}/log", headers=V).json()
    assert [line["seq"] for line in log["lines"]] == [1, 2]
    assert log["next_after"] == 2 and log["finished"] is True
    rest = client.get(f"/api/v1/runs/{plan_id}/log?after=2", headers=V).json()
    assert rest["lines"] == [] and rest["next_after"] == 2
    assert client.get("/api/v1/runs/999/log", headers=V).status_code == 404
    assert client.get("/api/v1/runs/999", headers=V).status_code == 404
    assert client.get("/api/v1/stacks/app/plan", headers=V).status_code == 404


def test_a_log_page_is_bounded_in_bytes_and_reading_on_loses_no_line(
    client: TestClient, controller: FakeController
) -> None:
    store = controller.store
    run_id = store.start_run(stack="network", repository=REPO_KEY, revision=SHA_B, kind="plan")
    lines = [f"{index:04d} " + "x" * 16_000 for index in range(200)]  # about 3.2 MB
    store.append_log(run_id, lines)
    seen: list[str] = []
    after = 0
    pages = 0
    while True:
        page = client.get(f"/api/v1/runs/{run_id}/log?after={after}&limit=10000", headers=V)
        assert page.status_code == 200
        body = page.json()
        if not body["lines"]:
            break
        pages += 1
        assert len(page.content) < 1_100_000  # about 1 MiB a page, not everything at once
        seen.extend(item["line"] for item in body["lines"])
        after = body["next_after"]
    assert seen == lines and pages >= 3


def test_readyz_follows_the_controller(client: TestClient, controller: FakeController) -> None:
    controller.ready = False
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json() == {"status": "not ready"}
    controller.ready = True
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_serve_the_controller_registry(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "truenorth_webhooks_total" in response.text


def test_openapi_documents_the_api(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/stacks",
        "/api/v1/stacks/{name}",
        "/api/v1/stacks/{name}/plan",
        "/api/v1/stacks/{name}/runs",
        "/api/v1/runs/{run_id}/log",
        "/api/v1/stacks/{name}/rollback",
        "/api/v1/webhooks/{provider}",
    ):
        assert path in paths
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/api/v1/docs").status_code == 200


def test_secrets_in_controller_text_are_masked_on_the_way_out(
    client: TestClient, controller: FakeController
) -> None:
    controller.stack_views[0] = replace(
        controller.stack_views[0],
        error=f"git fetch https://user:{GIT_TOKEN}@git.example.com/org/infra.git failed; token {ADMIN}",
    )
    response = client.get("/api/v1/stacks/network", headers=V)
    assert response.status_code == 200
    assert GIT_TOKEN not in response.text and ADMIN not in response.text
    assert "***" in response.json()["error"]


def test_no_endpoint_answers_with_a_secret(client: TestClient, controller: FakeController) -> None:
    controller.stack_views.append(stack_view("extra", error=None))
    texts = [
        client.get(path, headers=bearer(ADMIN)).text
        for path in (
            "/api/v1/repositories",
            "/api/v1/stacks",
            "/api/v1/stacks/network",
            "/api/v1/runs",
            "/api/v1/openapi.json",
            "/metrics",
            "/healthz",
            "/readyz",
        )
    ]
    for text in texts:
        assert not any(secret in text for secret in SECRETS)


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing", headers=V)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


@pytest.mark.parametrize("path", ["/api/v1/stacks", "/healthz", "/metrics", "/api/v1/nope", "/api/v1/docs"])
def test_every_answer_forbids_sniffing_framing_and_caching(client: TestClient, path: str) -> None:
    answer = client.get(path, headers=V)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_a_refused_spec_shows_on_the_stacks_page_also_without_stacks(
    client: TestClient, controller: FakeController
) -> None:
    error = "revision bbbbbbbbbbbb is invalid and was not applied: truenorth.yaml: stacks[0].engine: unknown"
    controller.source_error = error
    controller.stack_views = [replace(view, source_error=error) for view in controller.stack_views]
    body = client.get("/api/v1/stacks", headers=V).json()
    assert body["source_errors"] == [{"repository": "infra", "source_error": error}]
    assert {item["source_error"] for item in body["items"]} == {error}
    assert client.get("/api/v1/stacks/network", headers=V).json()["source_error"] == error

    controller.stack_views = []  # the first revision was refused: no stack is known yet
    body = client.get("/api/v1/stacks", headers=V).json()
    assert (body["items"], body["total"]) == ([], 0)
    assert body["source_errors"] == [{"repository": "infra", "source_error": error}]
    assert client.get("/api/v1/stacks?repository=other", headers=V).json()["source_errors"] == []

    controller.source_error = None
    assert client.get("/api/v1/stacks", headers=V).json()["source_errors"] == []
