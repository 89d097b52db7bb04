"""The CLI side: ``serve`` refusing bad set-ups, and the API client's error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from truenorth.cli import actions, remote, serve
from truenorth.cli import client as cli_client
from truenorth.config import ControllerConfig, RepositoryConfig, TokenConfig


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    serve.register(app)
    actions.register(app)
    return app


def test_serve_refuses_a_broken_config(app: typer.Typer, tmp_path: Path) -> None:
    config = tmp_path / "truenorth.toml"
    config.write_text('[[tokens]]\nname = "x"\nrole = "admin"\ntoken = "inline-secret-value"\n')
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "never inline" in result.stderr and "inline-secret-value" not in result.stderr


def test_serve_needs_a_repository(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "nothing to reconcile" in result.stderr


def test_serve_refuses_a_bad_http_timeout(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--repo", str(tmp_path)], env={"TRUENORTH_HTTP_BODY_TIMEOUT": "-1s"}
    )
    assert result.exit_code == 1 and "TRUENORTH_HTTP_BODY_TIMEOUT" in result.stderr


def test_startup_warnings() -> None:
    bare = ControllerConfig(
        repositories=(RepositoryConfig(name="r", url="file:///x"),), listen="0.0.0.0:8080"
    )
    warnings = serve.startup_warnings(bare)
    assert any("no API token" in w for w in warnings)
    assert any("no webhook secret" in w for w in warnings)
    assert any("0.0.0.0" in w for w in warnings)
    full = ControllerConfig(
        repositories=bare.repositories,
        tokens=(TokenConfig(name="a", role="admin", token="x" * 20),),
        webhook_secret="s" * 20,
    )
    assert serve.startup_warnings(full) == []


def test_actions_without_a_server_say_what_they_need(app: typer.Typer) -> None:
    for args in (
        ["sync", "net"],
        ["approve", "net"],
        ["rollback", "net", "--revision", "a" * 40, "--reason", "x"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        assert "needs --server" in result.stderr


def test_client_errors_are_readable_and_never_show_the_token() -> None:
    token = "tn-client-token-1234567890"

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {token}"
        if request.url.raw_path.endswith(b"/stacks/a%2Fb/sync"):
            return httpx.Response(202, json={"run_id": 3})
        if request.url.path.endswith("/forbidden"):
            return httpx.Response(403, json={"detail": "this action needs the operator role"})
        if request.url.path.endswith("/echo"):
            return httpx.Response(401, json={"detail": f"bad token {token}"})
        return httpx.Response(502, text="<html>bad gateway</html>")

    with cli_client.ApiClient("http://tn.example", token, transport=httpx.MockTransport(handler)) as client:
        assert client.post("/stacks/a%2Fb/sync") == {"run_id": 3}
        with pytest.raises(
            cli_client.RemoteError, match="403: this action needs the operator role"
        ) as forbidden:
            client.get("/forbidden")
        assert "role does not allow" in str(forbidden.value)
        with pytest.raises(cli_client.RemoteError) as echoed:
            client.get("/echo")
        assert token not in str(echoed.value) and "--token" in str(echoed.value)
        with pytest.raises(cli_client.RemoteError, match="502"):
            client.get("/other")


def test_client_refuses_a_non_http_server_and_reports_unreachable() -> None:
    with pytest.raises(cli_client.RemoteError, match="http"):
        cli_client.ApiClient("ftp://x", None)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        cli_client.ApiClient("http://127.0.0.1:1", None, transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(cli_client.RemoteError, match="cannot reach the server"),
    ):
        client.get("/stacks")


ERROR = "stack network: terraform plan failed:\nError: Invalid reference\n  on main.tf line 3, in resource:\n   3:   x = nope"


def _printed(render: Any) -> str:
    console = Console(record=True, width=200, highlight=False)
    render(console)
    return console.export_text()


def test_status_shows_errors_in_full_and_every_source_error() -> None:
    refused = "revision bbbbbbbbbbbb is invalid and was not applied: truenorth.yaml: stacks[0]: unknown"
    status = {
        "stacks": [
            {
                "repository": "infra", "name": "network", "engine": "terraform", "sync_state": "failed",
                "health": "Unknown", "drift": False, "applied_revision": None, "last_run": None,
                "error": ERROR, "source_error": refused,
            }
        ],
        "source_errors": [{"repository": "infra", "source_error": refused}],
    }  # fmt: skip
    text = _printed(lambda console: remote.print_status(console, status))
    for line in ERROR.splitlines():
        assert line.strip() in text
    assert f"repository infra: {refused}" in text

    text = _printed(lambda console: remote.print_status(console, {**status, "stacks": []}))
    assert "The controller tracks no stacks yet." in text
    assert f"repository infra: {refused}" in text


def test_history_shows_errors_in_full() -> None:
    runs = [
        {
            "id": 7, "stack": "network", "kind": "plan", "status": "failed", "revision": "a" * 40,
            "started_at": "2024-05-15T10:00:00+00:00", "actor": None, "error": ERROR,
        }
    ]  # fmt: skip
    text = _printed(lambda console: remote.print_history(console, runs))
    for line in ERROR.splitlines():
        assert line.strip() in text
