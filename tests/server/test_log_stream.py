"""``GET /runs/{id}/log/stream``: lines as recorded, resumed by ``Last-Event-ID``, kept alive.

A quiet run (no line for a while: a long ``terraform apply``) gets a comment line every
``KEEPALIVE`` seconds, so that neither a proxy nor ``truenorth logs --follow`` takes the
silence for a broken connection. The run here ends after a fixed number of log reads,
counted on the controller: no clock is raced.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import VIEWER, bearer, make_config
from tests.server.fakes import REPO_KEY, SHA_B, FakeController
from truenorth.controller.actions import views
from truenorth.core import ids
from truenorth.server import events
from truenorth.server.app import create_app


@dataclasses.dataclass
class QuietRun(FakeController):
    """Reports its run as running for ``reads`` log reads, then finished."""

    reads: int = 0
    finish_after: int = 8

    def run_log(self, run_id: ids.RunId, *, after: int = 0, limit: int = 1000) -> views.LogPage | None:
        self.reads += 1
        page = super().run_log(run_id, after=after, limit=limit)
        assert page is not None
        return dataclasses.replace(page, finished=self.reads > self.finish_after)


def test_a_quiet_run_is_kept_alive_and_resumes_after_last_event_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "LOG_INTERVAL", 0.01)
    monkeypatch.setattr(events, "KEEPALIVE", 0.03)
    controller = QuietRun(tmp_path / "data")
    run_id = controller.store.start_run(stack="network", repository=REPO_KEY, revision=SHA_B, kind="apply")
    controller.store.append_log(run_id, ["one", "two", "three"])
    try:
        with TestClient(create_app(controller, make_config())) as client:
            headers = {**bearer(VIEWER), "Last-Event-ID": "2"}
            answer = client.get(f"/api/v1/runs/{run_id}/log/stream", headers=headers)
    finally:
        controller.store.close()
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    body = answer.text
    assert '"line":"three"' in body and '"line":"one"' not in body and '"line":"two"' not in body
    assert body.count(": keep-alive\n\n") >= 1
    assert body.rstrip().endswith('data: {"next_after":3}')
    assert "event: end" in body
