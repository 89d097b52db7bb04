"""Cases 12-17 end to end: hostile text stays data, hostile requests get clear 4xx answers.

Commit subjects, the author, the branch name, stack folders, file, host and task names
carry HTML and shell metacharacters. The API returns them verbatim inside JSON (never as
``text/html``), and no shell ever runs them: a ``PWNED_*`` file would appear otherwise.
Wrong tokens get 401, forged or malformed webhooks a 4xx (never a 5xx), actions on the
wrong state a clear 4xx; nothing crashes and both servers stop cleanly.
"""

from __future__ import annotations

import json
import re
import signal
from typing import Any

import pytest

from tests.security import hostile
from tests.security.driving import Scenario
from tests.security.forgeries import hostile_tokens

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security")]


def body(scenario: Scenario, label: str, *, status: int = 200) -> Any:
    exchange = scenario.labeled[label]
    assert exchange.status == status, (label, exchange.status, exchange.body[:400])
    assert exchange.content_type.startswith("application/json"), (label, exchange.content_type)
    return json.loads(exchange.body)


def test_every_api_answer_is_json_and_only_the_docs_page_is_html(scenario: Scenario) -> None:
    for exchange in scenario.book:
        kind = exchange.content_type
        if exchange.path == "/api/v1/docs":
            assert kind.startswith("text/html")
            assert b"PWNED" not in exchange.body and b"alert(1)" not in exchange.body
        elif exchange.path == "/metrics":
            assert kind.startswith("text/plain")
        else:
            assert kind.startswith("application/json"), (exchange.method, exchange.path, kind)


def test_hostile_text_comes_back_verbatim_inside_json(scenario: Scenario) -> None:
    (repository,) = body(scenario, "converged repositories")["items"]
    assert repository["branch"] == scenario.branch
    converged = body(scenario, f"converged stack {hostile.MAIN_STACK}")
    assert converged["applied_commit"]["subject"] == hostile.FIRST_SUBJECT
    assert converged["applied_commit"]["author"].startswith(hostile.AUTHOR)
    later = body(scenario, f"after webhook stack {hostile.MAIN_STACK}")
    assert later["applied_commit"]["subject"] == hostile.SECOND_SUBJECT.format(marks=scenario.marks)
    ansible_runs = body(scenario, f"converged runs {hostile.ANSIBLE_STACK}")["items"]
    applied = next(r for r in ansible_runs if r["kind"] == "apply")
    detail = body(scenario, f"converged run {applied['id']}")
    assert [h["host"] for h in detail["hosts"]] == [hostile.HOST]
    assert hostile.TASK in {
        c.get("task") for c in body(scenario, f"converged plan {hostile.ANSIBLE_STACK}")["changes"]
    }
    missing = body(scenario, "unknown stack", status=404)
    assert "<img src=x onerror=alert(1)>" in missing["detail"]


def test_no_shell_ever_ran_repository_or_request_text(scenario: Scenario) -> None:
    created = [path for path in scenario.root.rglob("PWNED_*") if re.fullmatch(r"PWNED_\w+", path.name)]
    assert created == []
    assert list(scenario.marks.iterdir()) == []
    assert list(scenario.workdir.iterdir()) == []


def test_every_wrong_token_gets_401_without_echo(scenario: Scenario) -> None:
    for name, headers in hostile_tokens().items():
        for label in (f"token {name}", f"token {name} (rollback)"):
            exchange = scenario.labeled[label]
            assert exchange.status == 401, (label, exchange.status)
            assert ("www-authenticate", "Bearer") in [(k.lower(), v) for k, v in exchange.headers], label
            sent = headers.get("Authorization", "").partition(" ")[2] or headers.get("Authorization", "")
            if len(sent) > 8:
                assert sent.encode() not in exchange.body, label
    assert scenario.labeled["token in the query"].status == 401
    assert scenario.labeled["secret in the query"].status == 401


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("github without signature", {401}),
        ("github sha1 signature", {401}),
        ("github bad hex", {401}),
        ("github signed with another secret", {401}),
        ("github signature over re-serialised JSON", {401}),
        ("github repository null", {400, 422}),
        ("github ref missing", {400, 422}),
        ("github array body", {400, 422}),
        ("github commits not objects", {400, 422}),
        ("github not JSON", {400, 422}),
        ("gitlab wrong token", {401}),
        ("gitea wrong signature", {401}),
        ("generic with the API token", {401}),
        ("generic with the git credential", {401}),
        ("unknown provider", {404}),
        ("one byte over the limit", {413}),
    ],
)
def test_forged_and_malformed_webhooks_get_a_4xx(scenario: Scenario, name: str, expected: set[int]) -> None:
    exchange = scenario.labeled[f"webhook {name}"]
    assert exchange.status in expected, (name, exchange.status, exchange.body[:300])
    assert json.loads(exchange.body)["detail"]


def test_a_signed_webhook_triggers_once_and_a_replay_nothing(scenario: Scenario) -> None:
    first = body(scenario, "signed webhook", status=202)
    assert first["triggered"] == ["default"] and first["duplicate"] is False
    replay = body(scenario, "replayed webhook", status=202)
    assert replay["triggered"] == [] and replay["duplicate"] is True
    # A forge may send the clone URL with credentials: it matches after normalizing.
    assert body(scenario, "webhook with credentials in the URL", status=202)["triggered"] == ["default"]


def test_actions_on_the_wrong_state_fail_clearly(scenario: Scenario) -> None:
    assert body(scenario, "approve pending", status=202)["run_id"] > 0
    assert body(scenario, "refresh", status=202)["run_id"] > 0
    assert "not waiting for approval" in body(scenario, "approve not pending", status=409)["detail"]
    assert "no stored plan" in body(scenario, "sync without plan", status=409)["detail"]
    assert "auto_apply" in body(scenario, "rollback with auto_apply", status=409)["detail"]
    assert body(scenario, "rollback never applied", status=422)["detail"]
    for label in ("rollback hostile revision", "rollback option revision", "rollback blank reason"):
        problem = body(scenario, label, status=422)
        assert "PWNED" not in json.dumps(problem) and "upload-pack" not in json.dumps(problem)
    assert body(scenario, "unknown run", status=404)["detail"] == "no run 999999"


def test_nothing_crashed_and_both_servers_stopped_cleanly(scenario: Scenario) -> None:
    errors = [e for e in scenario.book if e.status >= 500 and e.path != "/readyz"]
    assert errors == [], [(e.method, e.path, e.status, e.body[:200]) for e in errors]
    for log_format, logs in scenario.logs.items():
        assert "Traceback" not in logs, log_format
        assert "unhandled error" not in logs, log_format
    assert set(scenario.exit_codes.values()) <= {0, -signal.SIGTERM}, scenario.exit_codes
