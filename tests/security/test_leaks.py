"""Case 9 and 10 end to end: no secret leaves the controller, whatever door one looks through.

Seven canaries (a Terraform sensitive default, an Ansible ``no_log`` value, vault
plaintext, the admin token, the webhook secret, the vault password, the Git credential)
are looked for in every HTTP answer (headers and body), both log streams (text and JSON),
the CLI's output, every database row, and every file under the data dir except where a
canary legitimately rests (the repository copies; Terraform's own state, saved plans and
working copy). Positive controls prove the canaries really went through the engines, so
that "not found" means "masked", not "never there".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from tests.security import hostile
from tests.security.canaries import CANARIES, Finding, dump_database, find_in_bytes, find_in_tree
from tests.security.driving import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security")]

A, B, C, G = (CANARIES[k].value for k in "ABCG")


def report(findings: Iterable[Finding], *, limit: int = 12) -> str:
    """One line per distinct (canary, place), at most ``limit`` of them."""
    seen: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.key, finding.where), finding)
    lines = [str(f) for f in list(seen.values())[:limit]]
    more = len(seen) - len(lines)
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


def labeled_json(scenario: Scenario, label: str) -> dict[str, Any]:
    exchange = scenario.labeled[label]
    assert exchange.status == 200, (label, exchange.status, exchange.body[:300])
    document: dict[str, Any] = json.loads(exchange.body)
    return document


def test_no_canary_in_any_http_answer(scenario: Scenario) -> None:
    assert len(scenario.book) > 100
    findings = [
        finding
        for exchange in scenario.book
        for finding in find_in_bytes(exchange.raw(), where=f"{exchange.method} {exchange.path}")
    ]
    assert not findings, report(findings)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_canary_in_the_server_logs(scenario: Scenario, log_format: str) -> None:
    logs = scenario.logs[log_format]
    assert "plan" in logs  # the engines' runs were logged
    if log_format == "json":
        for line in logs.splitlines():
            entry = json.loads(line)
            assert {"time", "level", "logger", "message"} <= set(entry), line
    findings = find_in_bytes(logs.encode(), where=f"the {log_format} log (stderr)")
    findings += find_in_bytes(scenario.stdout[log_format].encode(), where=f"stdout ({log_format})")
    assert not findings, report(findings)


def test_no_canary_in_any_database_row(scenario: Scenario) -> None:
    tables = dump_database(scenario.data_dir / "truenorth.db")
    assert tables["runs"] and tables["run_logs"]
    findings = [
        finding
        for table, rows in tables.items()
        for number, row in enumerate(rows)
        for finding in find_in_bytes(repr(row).encode(), where=f"table {table}, row {number}")
    ]
    assert not findings, report(findings)


def test_no_canary_in_the_data_dir_outside_the_repository_and_terraform_files(scenario: Scenario) -> None:
    findings = find_in_tree(scenario.data_dir)
    assert not findings, report(findings)


def test_no_canary_in_the_cli_output(scenario: Scenario) -> None:
    assert scenario.cli["status"].startswith("exit 0")
    assert scenario.cli["history"].startswith("exit 0")
    for label in ("status json", "history json"):
        assert scenario.cli[label].startswith("exit 0")
        assert f'"{hostile.FRESH_STACK}"' in scenario.cli[label], label
    assert scenario.cli["approve and wait"].startswith("exit 0")
    assert scenario.cli["approve not pending"].startswith("exit 1")
    assert scenario.cli["rollback never applied"].startswith("exit 1")
    findings = [f for label, text in scenario.cli.items() for f in find_in_bytes(text.encode(), where=label)]
    assert not findings, report(findings)


def test_the_canaries_really_went_through_the_engines(scenario: Scenario) -> None:
    """Positive controls: the values were used, and masked where the engines printed them."""
    (state,) = (scenario.data_dir / "state").glob(f"*/{hostile.MAIN_STACK}/terraform.tfstate")
    assert A in state.read_text()
    assert (scenario.base_dir / "vault.conf").read_text() == f"token={C}\n"
    assert (scenario.base_dir / "nolog").read_text() == f"{B} {C}\n"
    rows = dump_database(scenario.data_dir / "truenorth.db")["run_logs"]
    lines = {str(row[-1]).strip() for row in rows}
    assert "+token=***" in lines  # the vault value in a diff
    assert '"msg": "the token is ***"' in lines  # the vault value in a debug message
    assert '+ input  = "***"' in lines  # the sensitive output read through remote state


def test_a_git_failure_is_shown_without_the_credential(scenario: Scenario) -> None:
    (error,) = scenario.source_errors
    assert "503" in error and "127.0.0.1" in error
    shown = labeled_json(scenario, "repositories while git fails")
    (repository,) = shown["items"]
    assert repository["source_error"] == error
    assert G not in error and "x-access-token" not in error


def failed_run(scenario: Scenario, stack: str) -> dict[str, Any]:
    """The stack's failed run at the breaking commit, as ``GET /runs/{id}`` showed it."""
    run_id = scenario.failed_runs[stack]
    run = labeled_json(scenario, f"after failures run {run_id}")
    assert run["status"] == "failed" and run["revision"] == scenario.shas["breaking"]
    return run


def test_terraform_validation_error_of_an_applied_stack_is_masked(scenario: Scenario) -> None:
    error = str(failed_run(scenario, hostile.MAIN_STACK)["error"])
    assert "Invalid value for variable" in error
    assert A not in error


def test_terraform_validation_error_of_a_never_applied_stack_is_masked(scenario: Scenario) -> None:
    """Terraform 1.11 prints a sensitive default in a failed validation; truenorth must mask it."""
    error = str(failed_run(scenario, hostile.FRESH_STACK)["error"])
    assert "Invalid value for variable" in error
    assert A not in error


def test_terraform_precondition_error_is_hidden_by_terraform_itself(scenario: Scenario) -> None:
    error = str(failed_run(scenario, hostile.PRECONDITION_STACK)["error"])
    assert "Resource precondition failed" in error
    assert "invalid error message" in error  # Terraform withheld the message itself
    assert A not in error


def test_a_failing_no_log_task_does_not_show_its_message(scenario: Scenario) -> None:
    """ansible-core 2.19 prints a failed ``no_log`` task's message; truenorth must not keep it."""
    run = failed_run(scenario, hostile.ANSIBLE_STACK)
    log = labeled_json(scenario, f"after failures log {run['id']}")
    lines = [entry["line"] for entry in log["lines"]]
    assert any("hidden failure" in line for line in lines)
    assert [line for line in lines if B in line] == []
    assert B not in str(run["error"]) and B not in str(run["output"])
