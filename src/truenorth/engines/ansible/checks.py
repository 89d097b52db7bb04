"""A check-mode run read as a plan: one change per host and task, honest about what it cannot know.

``ansible-playbook --check --diff`` is a simulation. A task that reports ``changed`` is
a ``create``, ``update`` or ``delete`` as its diff says (:func:`.diffs.action_of`; an
``update`` when the module reports no diff), with its redacted diff, and an ``ok`` one a
``no-op``. A changed loop task is one change per item, its address naming the item
(``web1: users (alice)``), as Ansible's ``(item=...)`` lines do. Everything check mode
could not predict is ``unknown``, never "no change": tasks it skipped (``command``,
modules without check support), tasks that failed under check mode, a ``no_log`` result
whose outcome was hidden, and tasks whose ``when`` reads a variable registered by such
a task on the same host (the condition saw a result check mode never produced). A task
skipped only because its own condition was false, or a loop over nothing, is a
``no-op``. Unreachable hosts are listed with Ansible's reason, not guessed about; a
host that failed or was unreachable makes the report :attr:`~CheckReport.partial`.
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
#: The verdicts of a task that changes something for sure.
_CHANGED = frozenset({plans.Action.CREATE, plans.Action.UPDATE, plans.Action.DELETE})


@dataclass(frozen=True)
class CheckReport:
    """What a check-mode run predicts, host by host."""

    changes: tuple[plans.Change, ...]
    hosts: tuple[str, ...]
    unreachable_hosts: tuple[str, ...]
    #: Hosts where a task failed under check mode (their later tasks were not checked).
    failed_hosts: tuple[str, ...]
    #: One line per check-mode failure: ``host: failed at task 'name': message``.
    failures: tuple[str, ...]
    #: One line per unreachable host: ``host: unreachable at task 'name': message``.
    unreachable: tuple[str, ...] = ()

    @property
    def changed_hosts(self) -> tuple[str, ...]:
        """Hosts with at least one predicted change (drift, when planned at the deployed revision)."""
        found = {item.host for item in self.changes if item.host and item.action in _CHANGED}
        return tuple(sorted(found - set(self.unreachable_hosts)))

    @property
    def partial(self) -> bool:
        """True when some host was not checked to the end (a task failed there, or it was
        unreachable): the plan shows what was checked before, not everything."""
        return bool(self.failed_hosts or self.unreachable_hosts)

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

    def __init__(self, notes: Iterable[events.Note], redactor: redaction.Redactor, *, check: bool) -> None:
        self.redactor = redactor
        self.mode = " in check mode" if check else ""
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
            prefix = f"failed{self.mode} (errors ignored)" if outcome.ignored else f"failed{self.mode}"
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
            diffs.action_of(outcome.diffs),
            "" if diff else (outcome.message or "changed (no diff reported)"),
            diff,
        )


def read_check(
    outcomes: Iterable[events.TaskOutcome],
    notes: Iterable[events.Note],
    *,
    hosts: Iterable[str] = (),
    redactor: redaction.Redactor,
    check: bool = True,
) -> CheckReport:
    """Turn the task outcomes (and notes) of a check-mode run into plan changes.

    ``check=False`` reads a real run the same way (an ``auto_apply`` converge): what
    each task changed, and a failed task's reason without "in check mode".
    """
    reader = _Reader(notes, redactor, check=check)
    changes: list[plans.Change] = []
    seen: dict[tuple[str, str], int] = {}
    all_hosts: set[str] = set(hosts)
    unreachable: set[str] = set()
    failed: set[str] = set()
    failures: list[str] = []
    unreachable_reasons: list[str] = []
    for outcome in outcomes:
        all_hosts.add(outcome.host)
        if outcome.kind is events.ResultKind.UNREACHABLE:
            if outcome.host not in unreachable:
                unreachable_reasons.append(
                    redactor(
                        f"{outcome.host}: unreachable at task '{outcome.task}': "
                        f"{outcome.message or 'no message'}"
                    )
                )
            unreachable.add(outcome.host)
            continue
        verdict = reader.judge(outcome)
        if outcome.kind is events.ResultKind.FAILED and not outcome.ignored:
            failed.add(outcome.host)
            failures.append(
                redactor(
                    f"{outcome.host}: failed at task '{outcome.task}': {outcome.message or 'no message'}"
                )
            )
        for label, judged in _per_item(outcome, verdict, redactor, mode=reader.mode):
            name = f"{outcome.task} ({label})" if label else outcome.task
            key = (outcome.host, name)
            seen[key] = seen.get(key, 0) + 1
            suffix = f" #{seen[key]}" if seen[key] > 1 else ""
            changes.append(
                plans.Change(
                    address=redactor(f"{outcome.host}: {name}{suffix}"),
                    action=judged.action,
                    resource_type="ansible_task",
                    name=redactor(name),
                    diff=judged.diff,
                    host=outcome.host,
                    task=redactor(outcome.task),
                    reason=redactor(judged.reason),
                )
            )
    # Host by host, each host's tasks in run order (hosts finish tasks in any order).
    changes.sort(key=lambda change: change.host or "")
    failures.sort()
    unreachable_reasons.sort()
    return CheckReport(
        changes=tuple(changes),
        hosts=tuple(sorted(all_hosts)),
        unreachable_hosts=tuple(sorted(unreachable)),
        failed_hosts=tuple(sorted(failed)),
        failures=tuple(failures),
        unreachable=tuple(unreachable_reasons),
    )


def _per_item(
    outcome: events.TaskOutcome, verdict: _Verdict, redactor: redaction.Redactor, *, mode: str
) -> list[tuple[str, _Verdict]]:
    """``(item label, verdict)`` per loop item of a changed loop task (as ``changed: [host] =>
    (item=...)`` lines show it); the task's own verdict, unlabelled, for everything else."""
    if verdict.action not in _CHANGED or not outcome.items or outcome.hidden:
        return [("", verdict)]
    found: list[tuple[str, _Verdict]] = []
    for number, item in enumerate(outcome.items, start=1):
        label = item.label or f"item {number}"
        if item.hidden:
            judged = (
                _Verdict(plans.Action.UPDATE, "changes hidden by no_log")
                if item.changed
                else _Verdict(plans.Action.NOOP)
            )
        elif item.failed:
            judged = _Verdict(plans.Action.UNKNOWN, f"failed{mode}: {item.message or 'no message'}")
        elif item.skipped:
            judged = (
                _Verdict(plans.Action.UNKNOWN, f"check mode skipped this item: {item.message}")
                if item.message
                else _Verdict(plans.Action.NOOP, "skipped: condition is false")
            )
        elif item.changed:
            diff = diffs.render(item.diffs, redactor=redactor)
            judged = _Verdict(
                diffs.action_of(item.diffs),
                "" if diff else (item.message or "changed (no diff reported)"),
                diff,
            )
        else:
            judged = _Verdict(plans.Action.NOOP)
        found.append((label, judged))
    if not any(judged.action.is_change for _label, judged in found):
        return [("", verdict)]  # changed as a whole (``changed_when``), no item says how
    return found
