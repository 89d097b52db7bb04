"""An Ansible callback that records what ansible-runner's events leave out.

ansible-runner's ``runner_on_skipped`` events carry no result, so they cannot tell a
task skipped by its ``when`` condition (a prediction: nothing will happen) from one
that check mode skipped (no prediction at all); and its events of ``no_log`` tasks
drop even the ``changed`` flag. truenorth must say "unknown", never "no change", when
check mode cannot predict, so this plugin writes one JSON line per result it needs
into the file named by ``TRUENORTH_ANSIBLE_NOTES``: the host, the task's id, a kind
(``condition``, ``empty``, ``hidden``, ``check_mode`` for skips; ``ok``/``failed``
otherwise), Ansible's short skip reason, the ``changed`` flag of hidden results, and
the task's ``register`` name and ``when`` conditions (to see which conditions read a
result check mode never produced). Never a result's content; the engine redacts the
notes like everything else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ansible.plugins.callback import CallbackBase

__all__ = ["CallbackModule", "skip_kind"]

#: Ansible's reason for a task whose ``when`` condition was false.
CONDITION_FALSE = "Conditional result was False"
#: Ansible's reason for a loop over an empty list.
NO_ITEMS = "No items in the list"


def skip_kind(result: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, reason)`` for a skipped result: kind is condition, empty, hidden or check_mode."""
    if "censored" in result:
        return "hidden", ""
    reason = str(result.get("skip_reason") or result.get("skipped_reason") or result.get("msg") or "")
    if reason == CONDITION_FALSE:
        return "condition", reason
    if reason == NO_ITEMS:
        return "empty", reason
    items = result.get("results")
    if isinstance(items, list) and items and all(isinstance(item, Mapping) for item in items):
        kinds = {skip_kind(item)[0] for item in items if item.get("skipped")}
        if len(kinds) == 1 and all(item.get("skipped") for item in items):
            return kinds.pop(), reason
    return "check_mode", reason


class CallbackModule(CallbackBase):  # type: ignore[misc]
    """Writes a note per result the engine needs more about (a notification callback)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "truenorth_notes"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("TRUENORTH_ANSIBLE_NOTES", "")

    def v2_runner_on_skipped(self, result: Any) -> None:
        """Record why a task was skipped."""
        kind, reason = skip_kind(result._result)
        self._write(result, kind=kind, reason=reason)

    def v2_runner_on_ok(self, result: Any) -> None:
        """Record a result's condition and register name, or its hidden ``changed`` flag."""
        self._result(result, kind="ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        """Same as :meth:`v2_runner_on_ok`, for failed results."""
        self._result(result, kind="failed")

    def _result(self, result: Any, *, kind: str) -> None:
        task = result._task
        hidden = "censored" in result._result
        if hidden or getattr(task, "register", None) or getattr(task, "when", None):
            self._write(result, kind=kind, hidden=hidden, changed=bool(result._result.get("changed")))

    def _write(
        self,
        result: Any,
        *,
        kind: str,
        reason: str = "",
        hidden: bool = False,
        changed: bool | None = None,
    ) -> None:
        if not self._path:
            return
        task = result._task
        note: dict[str, Any] = {
            "host": result._host.get_name(),
            "task_uuid": str(task._uuid),
            "kind": kind,
            "reason": reason[:500],
            "hidden": hidden,
        }
        if changed is not None:
            note["changed"] = changed
        register = getattr(task, "register", None)
        if register:
            note["register"] = str(register)
        when = getattr(task, "when", None)
        if when:
            note["when"] = [str(item) for item in (when if isinstance(when, list) else [when])]
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(note) + "\n")
