"""A check-mode run read as a plan: one change per host and task, honest about what it cannot know.

``ansible-playbook --check --diff`` is a simulation. A task that reports ``changed`` is
an ``update`` (with its redacted diff), an ``ok`` one a ``no-op``. Everything check mode
could not predict is ``unknown``, never "no change": tasks it skipped (``command``,
modules without check support), tasks that failed under check mode, a ``no_log`` result
whose outcome was hidden, and tasks whose ``when`` reads a variable registered by such
a task on the same host (the condition saw a result check mode never produced). A task
skipped only because its own condition was false, or a loop over nothing, is a
``no-op``. Unreachable hosts are listed, not guessed about.
Pure: events and notes in, :class:`CheckReport` out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from truenorth.core import plans, redaction
from truenorth.engines.ansible import diffs, events

__all__ = ["CheckReport", "read_check"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class CheckReport:
    """What a check-mode run predicts, host by host."""

    changes: tuple[plans.Change, ...]
    hosts: tuple[str, ...]
    unreachable_hosts: tuple[str, ...]
    #: Hosts where a task failed under check mode (their later tasks were not checked).
    failed_hosts: tuple[str, ...]
    #: One line per check-mode failure: ``host: task: message``.
    failures: tuple[str, ...]

    @property
    def changed_hosts(self) -> tuple[str, ...]:
        """Hosts with at least one predicted update (drift, when planned at the deployed revision)."""
        found = {item.host for item in self.changes if item.host and item.action is plans.Action.UPDATE}
        return tuple(sorted(found - set(self.unreachable_hosts)))

    @property
    def nothing_checked(self) -> bool:
        """True when every reachable host failed, so the run predicts nothing at all."""
        reached = set(self.hosts) - set(self.unreachable_hosts)
        return bool(reached) and reached <= set(self.failed_hosts)


@dataclass(frozen=True)
class _Verdict:
    action: plans.Action
    reason: str = ""
    diff: str = ""


class _Reader:
    """Walks the outcomes in order, remembering per host which registered results are unknown."""

    def __init__(self, notes: Iterable[events.Note], redactor: redaction.Redactor) -> None:
        self.redactor = redactor
        self.pending: dict[tuple[str, str, bool], list[events.Note]] = {}
        for note in notes:
            self.pending.setdefault((note.host, note.task_uuid, note.is_skip), []).append(note)
        self.unknown_vars: dict[str, set[str]] = {}

    def note_for(self, outcome: events.TaskOutcome) -> events.Note | None:
        skip = outcome.kind is events.ResultKind.SKIPPED
        queue = self.pending.get((outcome.host, outcome.task_uuid, skip))
        return queue.pop(0) if queue else None

    def reads_unknown(self, host: str, note: events.Note | None) -> bool:
        unknown = self.unknown_vars.get(host)
        if not unknown or note is None:
            return False
        return any(name in unknown for text in note.when for name in _NAME.findall(text))

    def judge(self, outcome: events.TaskOutcome) -> _Verdict:
        note = self.note_for(outcome)
        verdict = self._judge(outcome, note)
        if verdict.action is plans.Action.UNKNOWN and note is not None and note.register:
            self.unknown_vars.setdefault(outcome.host, set()).add(note.register)
        return verdict

    def _judge(self, outcome: events.TaskOutcome, note: events.Note | None) -> _Verdict:
        unknown = plans.Action.UNKNOWN
        if outcome.kind is events.ResultKind.FAILED:
            prefix = "failed in check mode (errors ignored)" if outcome.ignored else "failed in check mode"
            return _Verdict(unknown, f"{prefix}: {outcome.message or 'no message'}")
        depends = self.reads_unknown(outcome.host, note)
        if outcome.kind is events.ResultKind.SKIPPED:
            if note is not None and note.kind == "empty":
                return _Verdict(plans.Action.NOOP, "skipped: no items")
            if note is not None and note.kind == "condition":
                if depends:
                    return _Verdict(
                        unknown, "skipped on a condition that reads a result check mode could not predict"
                    )
                return _Verdict(plans.Action.NOOP, "skipped: condition is false")
            why = note.reason if note is not None and note.reason else "reason not reported"
            if note is not None and note.kind == "hidden":
                why = "reason hidden by no_log"
            return _Verdict(unknown, f"check mode skipped this task: {why}")
        if depends:
            return _Verdict(unknown, "ran on a condition that reads a result check mode could not predict")
        if outcome.hidden:
            if note is None or note.changed is None:
                return _Verdict(unknown, "result hidden by no_log")
            if note.changed:
                return _Verdict(plans.Action.UPDATE, "changes hidden by no_log")
            return _Verdict(plans.Action.NOOP)
        if not outcome.changed:
            return _Verdict(plans.Action.NOOP)
        diff = diffs.render(outcome.diffs, redactor=self.redactor)
        return _Verdict(
            plans.Action.UPDATE, "" if diff else (outcome.message or "changed (no diff reported)"), diff
        )


def read_check(
    outcomes: Iterable[events.TaskOutcome],
    notes: Iterable[events.Note],
    *,
    hosts: Iterable[str] = (),
    redactor: redaction.Redactor,
) -> CheckReport:
    """Turn the task outcomes (and notes) of a check-mode run into plan changes."""
    reader = _Reader(notes, redactor)
    changes: list[plans.Change] = []
    seen: dict[tuple[str, str], int] = {}
    all_hosts: set[str] = set(hosts)
    unreachable: set[str] = set()
    failed: set[str] = set()
    failures: list[str] = []
    for outcome in outcomes:
        all_hosts.add(outcome.host)
        if outcome.kind is events.ResultKind.UNREACHABLE:
            unreachable.add(outcome.host)
            continue
        verdict = reader.judge(outcome)
        if outcome.kind is events.ResultKind.FAILED and not outcome.ignored:
            failed.add(outcome.host)
            failures.append(redactor(f"{outcome.host}: {outcome.task}: {outcome.message or 'failed'}"))
        key = (outcome.host, outcome.task)
        seen[key] = seen.get(key, 0) + 1
        suffix = f" #{seen[key]}" if seen[key] > 1 else ""
        changes.append(
            plans.Change(
                address=redactor(f"{outcome.host}: {outcome.task}{suffix}"),
                action=verdict.action,
                resource_type="ansible_task",
                name=redactor(outcome.task),
                diff=verdict.diff,
                host=outcome.host,
                task=redactor(outcome.task),
                reason=redactor(verdict.reason),
            )
        )
    # Host by host, each host's tasks in run order (hosts finish tasks in any order).
    changes.sort(key=lambda change: change.host or "")
    failures.sort()
    return CheckReport(
        changes=tuple(changes),
        hosts=tuple(sorted(all_hosts)),
        unreachable_hosts=tuple(sorted(unreachable)),
        failed_hosts=tuple(sorted(failed)),
        failures=tuple(failures),
    )
