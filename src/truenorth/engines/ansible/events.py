"""ansible-runner's job events, read into a few typed values.

ansible-runner reports a run as a stream of JSON events (``runner_on_ok``,
``runner_on_failed``, ``runner_on_skipped``, ``runner_on_unreachable`` per host and task,
``playbook_on_stats`` at the end). This module turns the ones truenorth needs into
frozen :class:`TaskOutcome`, :class:`Note` and :class:`Recap` values and ignores the
rest, so that the plan and result builders (:mod:`.checks`, :mod:`.recaps`) are pure
functions that tests drive with recorded events. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SKIP_KINDS",
    "ItemOutcome",
    "Note",
    "Recap",
    "ResultKind",
    "TaskOutcome",
    "find_recap",
    "item_label",
    "parse_note",
    "parse_outcome",
    "task_outcomes",
]

#: The final per-host, per-task events (item events are summed up in these).
_KINDS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
    "runner_on_async_ok": "ok",
    "runner_on_async_failed": "failed",
}
_MESSAGE_LIMIT = 600
#: A loop item's label is shown in a change's address: at most this many characters.
_LABEL_LIMIT = 80
#: Loop items read per task result (a loop over more is summed up in the task's own change).
_ITEM_LIMIT = 1000
#: The kinds of :class:`Note` that describe a skip.
SKIP_KINDS = frozenset({"condition", "empty", "hidden", "check_mode"})


class ResultKind(enum.StrEnum):
    """How one task ended on one host."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class ItemOutcome:
    """One loop item's result inside a task's result (``res.results[i]``).

    ``label`` is the item as ``loop_control.label`` (else the item itself) names it,
    bounded and on one line (:func:`item_label`); empty when ``no_log`` hid the item.
    """

    label: str
    changed: bool = False
    skipped: bool = False
    failed: bool = False
    diffs: tuple[Mapping[str, Any], ...] = ()
    message: str = ""
    hidden: bool = False


@dataclass(frozen=True)
class TaskOutcome:
    """One task's result on one host. ``diffs`` are Ansible's raw before/after dicts;
    ``items`` the loop items' own results (empty for a task without a loop)."""

    host: str
    task: str
    task_uuid: str
    kind: ResultKind
    changed: bool = False
    diffs: tuple[Mapping[str, Any], ...] = ()
    message: str = ""
    #: The result was hidden by ``no_log: true``.
    hidden: bool = False
    #: The task failed but has ``ignore_errors``.
    ignored: bool = False
    items: tuple[ItemOutcome, ...] = ()


@dataclass(frozen=True)
class Note:
    """What the ``truenorth_notes`` callback adds to one task result on one host.

    For skips, ``kind`` is ``condition`` (its ``when`` was false), ``empty`` (a loop over
    nothing), ``hidden`` (``no_log`` hid the reason) or ``check_mode`` (check mode could
    not run it); for other results it is ``ok`` or ``failed``, with the ``changed`` flag
    that ansible-runner drops for ``no_log`` results. ``register`` and ``when`` are the
    task's own, to see which conditions read a result check mode never produced.
    """

    host: str
    task_uuid: str
    kind: str
    reason: str = ""
    hidden: bool = False
    changed: bool | None = None
    register: str = ""
    when: tuple[str, ...] = ()

    @property
    def is_skip(self) -> bool:
        """True for the note of a skipped result."""
        return self.kind in SKIP_KINDS


@dataclass(frozen=True)
class Recap:
    """``playbook_on_stats``: per-host counters of the whole run."""

    ok: Mapping[str, int] = field(default_factory=dict)
    changed: Mapping[str, int] = field(default_factory=dict)
    failures: Mapping[str, int] = field(default_factory=dict)
    dark: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    rescued: Mapping[str, int] = field(default_factory=dict)
    ignored: Mapping[str, int] = field(default_factory=dict)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host the run touched, sorted."""
        names: set[str] = set()
        for counts in (
            self.ok,
            self.changed,
            self.failures,
            self.dark,
            self.skipped,
            self.rescued,
            self.ignored,
        ):
            names.update(counts)
        return tuple(sorted(names))


def parse_outcome(event: Mapping[str, Any]) -> TaskOutcome | None:
    """The :class:`TaskOutcome` of a final per-task event, or None for any other event."""
    kind = _KINDS.get(str(event.get("event", "")))
    data = event.get("event_data")
    if kind is None or not isinstance(data, Mapping) or not data.get("host"):
        return None
    res = data.get("res")
    result: Mapping[str, Any] = res if isinstance(res, Mapping) else {}
    hidden = "censored" in result or bool(result.get("_ansible_no_log"))
    return TaskOutcome(
        host=str(data["host"]),
        task=_task_name(data),
        task_uuid=str(data.get("task_uuid", "")),
        kind=ResultKind(kind),
        changed=bool(result.get("changed")),
        diffs=() if hidden else _diffs(result),
        message=_message(result),
        hidden=hidden,
        ignored=bool(data.get("ignore_errors")),
        items=() if hidden else _items(result),
    )


def task_outcomes(events: Iterable[Mapping[str, Any]]) -> tuple[TaskOutcome, ...]:
    """The task outcomes among ``events``, in event order."""
    ordered = sorted(events, key=lambda item: int(item.get("counter") or 0))
    return tuple(outcome for outcome in map(parse_outcome, ordered) if outcome is not None)


def find_recap(events: Iterable[Mapping[str, Any]]) -> Recap | None:
    """The run's recap, or None when the playbook never got that far (a playbook error)."""
    recap: Recap | None = None
    for event in events:
        data = event.get("event_data")
        if event.get("event") != "playbook_on_stats" or not isinstance(data, Mapping):
            continue
        recap = Recap(**{name: _counts(data.get(name)) for name in Recap.__dataclass_fields__})
    return recap


def parse_note(item: Mapping[str, Any]) -> Note | None:
    """A :class:`Note` from one line of the notes file, or None if it is malformed."""
    host, uuid, kind = item.get("host"), item.get("task_uuid"), item.get("kind")
    if not (isinstance(host, str) and isinstance(uuid, str) and isinstance(kind, str)):
        return None
    changed = item.get("changed")
    when = item.get("when")
    return Note(
        host=host,
        task_uuid=uuid,
        kind=kind,
        reason=str(item.get("reason") or ""),
        hidden=bool(item.get("hidden")),
        changed=changed if isinstance(changed, bool) else None,
        register=str(item.get("register") or ""),
        when=tuple(str(part) for part in when) if isinstance(when, list) else (),
    )


def item_label(value: Any) -> str:
    """A loop item as a change's address shows it: text as it is, a mapping by its ``name``
    (the usual ``loop: [{name: ...}]``), anything else as compact JSON; one line, bounded."""
    if isinstance(value, Mapping) and isinstance(value.get("name"), str | int | float):
        value = value["name"]
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except ValueError:  # a circular value cannot come out of JSON events; be safe anyway
            text = repr(value)
    text = " ".join(text[: _LABEL_LIMIT * 4].split())
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 3] + "..."


def _items(result: Mapping[str, Any]) -> tuple[ItemOutcome, ...]:
    """The loop items of a task result, in loop order (none for a task without a loop)."""
    found = result.get("results")
    if not isinstance(found, list):
        return ()
    items = []
    for entry in found[:_ITEM_LIMIT]:
        if not isinstance(entry, Mapping):
            continue
        hidden = "censored" in entry or bool(entry.get("_ansible_no_log"))
        if "_ansible_item_label" in entry:
            raw = entry["_ansible_item_label"]
        else:
            raw = entry.get(str(entry.get("ansible_loop_var") or "item"))
        items.append(
            ItemOutcome(
                label="" if hidden else item_label(raw),
                changed=bool(entry.get("changed")),
                skipped=bool(entry.get("skipped")),
                failed=bool(entry.get("failed")),
                diffs=() if hidden else _diffs(entry),
                message=_message(entry),
                hidden=hidden,
            )
        )
    return tuple(items)


def _task_name(data: Mapping[str, Any]) -> str:
    name = str(data.get("task") or data.get("task_action") or "task").strip()
    role = str(data.get("role") or "").strip()
    return f"{role} : {name}" if role and not name.startswith(f"{role} : ") else name


def _diffs(result: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    found: list[Mapping[str, Any]] = []
    sources: list[Any] = [result.get("diff")]
    items = result.get("results")
    if isinstance(items, list):
        sources.extend(
            item.get("diff") for item in items if isinstance(item, Mapping) and "censored" not in item
        )
    for diff in sources:
        for entry in diff if isinstance(diff, list) else [diff]:
            if isinstance(entry, Mapping) and entry:
                found.append(entry)
    return tuple(found)


def _message(result: Mapping[str, Any]) -> str:
    if "censored" in result:
        return "output hidden (no_log)"
    parts = [str(result.get("msg") or "").strip()]
    stderr = str(result.get("stderr") or "").strip()
    if stderr:
        parts.append(stderr.splitlines()[-1])
    text = ": ".join(part for part in parts if part)
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(host): int(count) for host, count in value.items() if isinstance(count, int | float)}
