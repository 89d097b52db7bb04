"""``truenorth serve --notify json://...``: a real server, a real Terraform stack, a real receiver."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ADMIN
from tests.server.processes import ServerProcess, wait_for
from tests.server.test_process import Servers, one_stack_repo
from tests.support import receivers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    found = Servers(tmp_path)
    yield found
    found.close()


def test_serve_notify_delivers_sync_succeeded(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo")
    with receivers.receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        args = [
            "--repo", repo.url, "--listen", "127.0.0.1:0", "--poll-interval", "1h",
            "--data-dir", str(tmp_path / "data"), "--notify", f"json://127.0.0.1:{port}/hooks",
        ]  # fmt: skip
        env = servers.env(TRUENORTH_TOKEN=ADMIN, TRUENORTH_PUBLIC_URL="https://tn.example.com")
        server = servers._start(ServerProcess(args, env=env, log=tmp_path / "server.log"))
        server.wait_synced("network", repo.head(), token=ADMIN)
        (request,) = receiver.wait_for(1)
        payload = json.loads(request.body)
        assert request.path == "/hooks"
        assert payload["title"] == "[truenorth] sync-succeeded: default/network"
        assert payload["type"] == "success"
        assert f"Revision {repo.head()[:12]}: network stack" in payload["message"]
        assert "https://tn.example.com/#/stacks/default/network" in payload["message"]

        def delivered() -> list[dict[str, object]] | None:
            items = server.get_json("/api/v1/notifications/deliveries", token=ADMIN)["items"]
            return items if items and items[0]["status"] == "delivered" else None

        (record,) = wait_for(delivered, what="the delivery recorded")
        assert record["event"] == "sync-succeeded" and record["target"] == "--notify: json://"
        assert record["stack"] == "network" and record["revision"] == repo.head()
        assert port not in json.dumps(record)  # the URL is never shown
        assert server.request("GET", "/api/v1/notifications/deliveries").status_code == 401
        assert server.terminate() in (0, -signal.SIGTERM)
