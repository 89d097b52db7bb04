"""The pure readers replayed on job events recorded from real runs (``tests/data/ansible``).

``check_semantics`` is a check-mode run of two local hosts covering every outcome the
plan must tell apart; ``apply_partial`` is a real run where one host converges, one
fails a task and one is unreachable. ``record.py`` next to them re-records both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engines.ansible.conftest import DATA
from truenorth.core import plans, redaction, runs, specs
from truenorth.engines.ansible import checks, diffs, events, recaps, stats
from truenorth.engines.ansible.plugins import truenorth_notes


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check_report(redactor: redaction.Redactor | None = None) -> checks.CheckReport:
    folder = DATA / "check_semantics"
    recorded = _lines(folder / "job_events.jsonl")
    notes = [note for note in map(events.parse_note, _lines(folder / "notes.jsonl")) if note is not None]
    recap = events.find_recap(recorded)
    assert recap is not None
    return checks.read_check(
        events.task_outcomes(recorded), notes, hosts=recap.hosts, redactor=redactor or redaction.Redactor()
    )


def _actions(report: checks.CheckReport, host: str) -> dict[str, tuple[plans.Action, str]]:
    return {c.name: (c.action, c.reason) for c in report.changes if c.host == host}


def test_check_mode_outcomes_become_create_noop_and_unknown() -> None:
    report = _check_report()
    web1 = _actions(report, "web1")
    assert web1 == {
        "config file": (plans.Action.CREATE, ""),
        "already there": (plans.Action.NOOP, ""),
        "run a command": (
            plans.Action.UNKNOWN,
            "check mode skipped this task: Command would have run if not in check mode",
        ),
        "only when the command changed something": (
            plans.Action.UNKNOWN,
            "skipped on a condition that reads a result check mode could not predict",
        ),
        "never on this host": (plans.Action.NOOP, "skipped: condition is false"),
        "loop over nothing": (plans.Action.NOOP, "skipped: no items"),
        "secret file": (plans.Action.UPDATE, "changes hidden by no_log"),
        "directories (logs)": (plans.Action.CREATE, ""),
        "directories (cache)": (plans.Action.CREATE, ""),
        "tolerated failure": (plans.Action.NOOP, "skipped: condition is false"),
        "hard failure on one host": (plans.Action.NOOP, "skipped: condition is false"),
        "after the failure": (plans.Action.CREATE, ""),
    }
    web2 = _actions(report, "web2")
    assert web2["tolerated failure"] == (
        plans.Action.UNKNOWN,
        "failed in check mode (errors ignored): expected on web2",
    )
    assert web2["hard failure on one host"] == (plans.Action.UNKNOWN, "failed in check mode: web2 is broken")
    assert "after the failure" not in web2, "a failed host runs nothing more"
    assert report.failed_hosts == ("web2",)
    assert report.failures == ("web2: failed at task 'hard failure on one host': web2 is broken",)
    assert report.partial
    assert not report.nothing_checked
    assert report.changed_hosts == ("web1", "web2")


def test_changes_carry_host_task_address_and_readable_diffs() -> None:
    report = _check_report()
    config = next(c for c in report.changes if c.address == "web1: config file")
    assert (config.host, config.task, config.resource_type) == ("web1", "config file", "ansible_task")
    assert config.diff.splitlines() == [
        "--- before",
        "+++ after: /recorded/hosts/web1/app.conf",
        "@@ -0,0 +1 @@",
        "+host = web1",
    ]
    logs = next(c for c in report.changes if c.address == "web1: directories (logs)")
    assert (logs.task, logs.name) == ("directories", "directories (logs)")
    assert '-  "state": "absent"' in logs.diff and '+  "state": "directory"' in logs.diff
    assert "/recorded/hosts/web1/logs" in logs.diff and "/recorded/hosts/web1/cache" not in logs.diff
    cache = next(c for c in report.changes if c.address == "web1: directories (cache)")
    assert "/recorded/hosts/web1/cache" in cache.diff
    hidden = next(c for c in report.changes if c.address == "web1: secret file")
    assert hidden.diff == ""


def test_summary_counts_hosts_changed_and_unknown() -> None:
    report = _check_report()
    summary = plans.summarize(report.changes, hosts_unreachable=report.unreachable_hosts)
    # Per host: the config file, two directories and the file after the failure (web1
    # only) are created; the no_log file is updated (its diff is hidden).
    assert (summary.add, summary.change) == (7, 2)
    assert summary.unknown == 6
    assert (summary.hosts_changed, summary.hosts_unknown, summary.hosts_unreachable) == (2, 0, 0)
    assert summary.has_changes


def test_known_secrets_are_masked_in_diffs_addresses_and_reasons() -> None:
    report = _check_report(redaction.Redactor(["web2 is broken", "host = web1"]))
    text = json.dumps([c.to_dict() for c in report.changes]) + "\n".join(report.failures)
    assert "web2 is broken" not in text and "host = web1" not in text
    assert "+***" in next(c for c in report.changes if c.address == "web1: config file").diff


def test_duplicate_task_names_get_distinct_addresses() -> None:
    outcome = events.TaskOutcome(host="h", task="same", task_uuid="u", kind=events.ResultKind.OK)
    report = checks.read_check([outcome, outcome], [], redactor=redaction.Redactor())
    assert [c.address for c in report.changes] == ["h: same", "h: same #2"]


def test_every_host_failing_means_nothing_was_checked() -> None:
    failed = [
        events.TaskOutcome(host=h, task="t", task_uuid="u", kind=events.ResultKind.FAILED, message="boom")
        for h in ("a", "b")
    ]
    gone = events.TaskOutcome(host="c", task="t", task_uuid="u", kind=events.ResultKind.UNREACHABLE)
    report = checks.read_check([*failed, gone], [], redactor=redaction.Redactor())
    assert report.nothing_checked
    assert report.unreachable_hosts == ("c",)


def test_a_hidden_result_without_its_note_is_unknown() -> None:
    outcome = events.parse_outcome(
        {
            "event": "runner_on_ok",
            "counter": 1,
            "event_data": {"host": "h", "task": "t", "task_uuid": "u", "res": {"censored": "hidden"}},
        }
    )
    assert outcome is not None and outcome.hidden
    report = checks.read_check([outcome], [], redactor=redaction.Redactor())
    assert report.changes[0].action is plans.Action.UNKNOWN


def test_apply_recap_gives_per_host_results_and_a_partial_run() -> None:
    recorded = _lines(DATA / "apply_partial" / "job_events.jsonl")
    recap = events.find_recap(recorded)
    assert recap is not None
    hosts = recaps.host_results(recap)
    assert [(h.host, h.status, h.changed, h.failed, h.unreachable) for h in hosts] == [
        ("gone", runs.HostStatus.UNREACHABLE, 0, 0, 1),
        ("web1", runs.HostStatus.CHANGED, 2, 0, 0),
        ("web2", runs.HostStatus.FAILED, 0, 1, 0),
    ]
    assert recaps.run_status(hosts, rc=2, recap_seen=True) is runs.RunStatus.PARTIAL
    text = recaps.describe_problems(events.task_outcomes(recorded), hosts, redactor=redaction.Redactor())
    lines = text.splitlines()
    assert lines[0].startswith("gone: unreachable at task 'config file': ")
    assert "Connection refused" in lines[0]
    assert lines[1].startswith("web2: failed at task 'config file': Destination directory")


@pytest.mark.parametrize(
    ("statuses", "rc", "expected"),
    [
        ([runs.HostStatus.OK, runs.HostStatus.CHANGED], 0, runs.RunStatus.SUCCEEDED),
        ([runs.HostStatus.OK, runs.HostStatus.UNREACHABLE], 4, runs.RunStatus.PARTIAL),
        ([runs.HostStatus.FAILED, runs.HostStatus.UNREACHABLE], 2, runs.RunStatus.FAILED),
        ([runs.HostStatus.OK], 1, runs.RunStatus.FAILED),
        ([], 0, runs.RunStatus.SUCCEEDED),
    ],
)
def test_run_status_rules(statuses: list[runs.HostStatus], rc: int, expected: runs.RunStatus) -> None:
    hosts = [runs.HostResult(host=f"h{i}", status=s) for i, s in enumerate(statuses)]
    assert recaps.run_status(hosts, rc=rc, recap_seen=True) is expected
    assert recaps.run_status(hosts, rc=0, recap_seen=False) is runs.RunStatus.FAILED


def test_no_recap_means_a_playbook_level_error() -> None:
    assert events.find_recap([{"event": "verbose", "stdout": "[ERROR]: boom"}]) is None


def test_diff_rendering_of_prepared_binary_and_oversized_entries() -> None:
    redactor = redaction.Redactor()
    assert diffs.render([{"prepared": "apt: +nginx\n"}], redactor=redactor) == "apt: +nginx"
    assert "binary" in diffs.render([{"dst_binary": True}], redactor=redactor)
    assert "larger than 104448 bytes" in diffs.render([{"src_larger": 104448}], redactor=redactor)
    same = diffs.render([{"before": "x\n", "after": "x\n"}], redactor=redactor)
    assert same == ""
    big = diffs.render([{"before": "", "after": "y\n" * 20_000}], redactor=redactor)
    assert big.endswith(f"(diff cut at {diffs.MAX_DIFF_CHARS} characters)")


def test_skip_kinds_as_the_callback_sees_them() -> None:
    kind = truenorth_notes.skip_kind
    assert kind({"skip_reason": "Conditional result was False"})[0] == "condition"
    assert kind({"skipped_reason": "No items in the list"})[0] == "empty"
    assert kind({"censored": "x", "skip_reason": "Conditional result was False"})[0] == "hidden"
    assert kind({"msg": "remote module (x) does not support check mode"})[0] == "check_mode"
    items = {"results": [{"skipped": True, "skip_reason": "Conditional result was False"}] * 2}
    assert kind(items)[0] == "condition"
    mixed = {"results": [{"skipped": True, "skip_reason": "Conditional result was False"}, {"skipped": True}]}
    assert kind(mixed)[0] == "check_mode"


def test_a_censored_failure_keeps_only_its_result_line() -> None:
    from truenorth.engines.ansible import running

    event = {
        "event": "runner_on_failed",
        "stdout": "\x1b[0;31m[ERROR]: Task failed: Action failed: token tn-secret-in-message\x1b[0m\n"
        "Origin: /x/site.yml:7:7\n"
        '\x1b[0;31mfatal: [web1]: FAILED! => {"censored": "the output has been hidden"}\x1b[0m',
        "event_data": {"res": {"censored": "the output has been hidden", "changed": False}},
    }
    shown = running.hide_no_log_text(event)["stdout"]
    assert "tn-secret-in-message" not in shown and "Origin" not in shown
    assert "fatal: [web1]: FAILED!" in shown and "(output hidden: no_log)" in shown
    plain = {"stdout": "[ERROR]: Task failed: visible", "event_data": {"res": {"msg": "visible"}}}
    assert running.hide_no_log_text(plain)["stdout"] == "[ERROR]: Task failed: visible"


def _stats_event(data: dict[str, Any]) -> dict[str, Any]:
    return {"event": "playbook_on_stats", "event_data": {"ok": {"web1": 1}, "artifact_data": data}}


def test_set_stats_data_becomes_outputs_with_their_sensitivity() -> None:
    data = {"token": "s3cret-token", "address": "10.0.0.5", "ports": [80, 443]}
    assert stats.run_stats(_stats_event(data)) == data
    assert stats.run_stats({"event": "playbook_on_stats", "event_data": {}}) == {}
    assert stats.run_stats({"event": "runner_on_ok", "event_data": {}}) is None
    found = stats.read_outputs(data, [specs.OutputSpec(name="token", sensitive=True), specs.OutputSpec("x")])
    assert [(item.name, item.value, item.sensitive) for item in found] == [
        ("address", "10.0.0.5", False),
        ("ports", [80, 443], False),
        ("token", "s3cret-token", True),
    ]
    with pytest.raises(stats.OutputsTooLargeError, match="more than the 1048576 bytes"):
        stats.read_outputs({"big": "x" * stats.MAX_OUTPUTS_BYTES}, [])


def test_the_sensitive_values_an_event_carries_are_found_before_it_is_redacted() -> None:
    task = {
        "event": "runner_on_ok",
        "event_data": {
            "res": {
                "ansible_stats": {"data": {"token": "tok-1234", "open": "shown"}, "per_host": False},
                "results": [{"ansible_stats": {"data": {"key": {"pem": "line-one\nline-two", "n": 12345}}}}],
            }
        },
    }
    sensitive = frozenset({"token", "key"})
    assert set(stats.secret_texts(task, sensitive)) == {
        "tok-1234",
        '{"n":12345,"pem":"line-one\\nline-two"}',
        "line-one\nline-two",
        "12345",
    }
    assert stats.secret_texts(_stats_event({"token": "tok-5678", "open": "x"}), sensitive) == ("tok-5678",)
    assert stats.secret_texts(task, frozenset()) == ()
    assert stats.secret_texts({"event": "runner_on_ok", "event_data": {"res": "text"}}, sensitive) == ()


# --------------------------------------------------------------------------- issue #15


@pytest.mark.parametrize(
    ("entries", "action"),
    [
        # copy/template: a file Ansible found missing has no before_header.
        ([{"before": "", "after": "x\n", "after_header": "/f"}], plans.Action.CREATE),
        ([{"before": "", "before_header": "/f", "after": "x\n", "after_header": "/f"}], plans.Action.UPDATE),
        ([{"before": "a\n", "before_header": "/f", "after": "b\n"}], plans.Action.UPDATE),
        # file: state absent on either side.
        (
            [{"before": {"path": "/d", "state": "absent"}, "after": {"path": "/d", "state": "directory"}}],
            plans.Action.CREATE,
        ),
        (
            [{"before": {"path": "/f", "state": "file"}, "after": {"path": "/f", "state": "absent"}}],
            plans.Action.DELETE,
        ),
        ([{"before": {"mode": "0644"}, "after": {"mode": "0600"}}], plans.Action.UPDATE),
        # a new file's attributes come with its content: still a create.
        (
            [{"before": "", "after": "x"}, {"before": {"mode": "0644"}, "after": {"mode": "0600"}}],
            plans.Action.CREATE,
        ),
        # no before/after: the module says nothing about what it does (package managers, user).
        ([{"prepared": "Installing nginx"}], plans.Action.UPDATE),
        ([], plans.Action.UPDATE),
    ],
)
def test_the_action_comes_from_the_tasks_diff(entries: list[dict[str, Any]], action: plans.Action) -> None:
    assert diffs.action_of(entries) is action


def _loop_event(results: list[dict[str, Any]], **res: Any) -> dict[str, Any]:
    return {
        "event": "runner_on_ok",
        "counter": 1,
        "event_data": {
            "host": "h",
            "task": "users",
            "task_uuid": "u",
            "res": {"changed": True, "results": results, **res},
        },
    }


def test_loop_items_are_named_by_their_label() -> None:
    added = {"before": {"path": "/x", "state": "absent"}, "after": {"path": "/x", "state": "directory"}}
    outcome = events.parse_outcome(
        _loop_event(
            [
                {"_ansible_item_label": "alice", "item": {"name": "alice"}, "changed": True, "diff": added},
                {"_ansible_item_label": {"name": "bob", "uid": 7}, "changed": False},
                {"item": ["x", 1], "changed": True},
                {"censored": "hidden", "_ansible_no_log": True, "changed": True},
                {
                    "_ansible_item_label": "y" * 500 + "\n\x1b[2J",
                    "skipped": True,
                    "skip_reason": "Conditional",
                },
            ]
        )
    )
    assert outcome is not None
    assert [item.label for item in outcome.items] == ["alice", "bob", '["x", 1]', "", "y" * 77 + "..."]
    report = checks.read_check([outcome], [], redactor=redaction.Redactor(["alice"]))
    assert [(c.address, c.action, c.task) for c in report.changes] == [
        ("h: users (***)", plans.Action.CREATE, "users"),
        ("h: users (bob)", plans.Action.NOOP, "users"),
        ('h: users (["x", 1])', plans.Action.UPDATE, "users"),
        ("h: users (item 4)", plans.Action.UPDATE, "users"),
        ("h: users (" + "y" * 77 + "...)", plans.Action.NOOP, "users"),
    ]
    assert report.changes[3].reason == "changes hidden by no_log" and report.changes[3].diff == ""


def test_a_loop_changed_as_a_whole_stays_one_change() -> None:
    outcome = events.parse_outcome(
        _loop_event([{"item": "a", "changed": False}], diff={"before": "", "after": "z"})
    )
    assert outcome is not None
    report = checks.read_check([outcome], [], redactor=redaction.Redactor())
    assert [(c.address, c.action) for c in report.changes] == [("h: users", plans.Action.CREATE)]


def test_unreachable_hosts_are_named_with_their_reason_and_the_report_is_partial() -> None:
    recorded = _lines(DATA / "apply_partial" / "job_events.jsonl")
    report = checks.read_check(events.task_outcomes(recorded), [], redactor=redaction.Redactor(), check=False)
    assert report.unreachable_hosts == ("gone",)
    (line,) = report.unreachable
    assert line.startswith("gone: unreachable at task 'config file': ")
    assert "Connection refused" in line
    assert report.partial and report.failed_hosts == ("web2",)
    # A real run's failure is not worded as a check-mode one.
    assert all("check mode" not in c.reason for c in report.changes)
    assert report.failures and report.failures[0].startswith("web2: failed at task ")


def test_a_report_without_failed_or_unreachable_hosts_is_complete() -> None:
    ok = events.TaskOutcome(host="h", task="t", task_uuid="u", kind=events.ResultKind.OK, changed=True)
    assert not checks.read_check([ok], [], redactor=redaction.Redactor()).partial
