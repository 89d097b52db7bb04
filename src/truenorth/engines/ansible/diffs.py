"""Ansible's ``--diff`` data turned into readable unified diffs.

Modules report a change as ``{"before": ..., "after": ..., "before_header": ...,
"after_header": ...}`` (text or JSON-like values), as ``{"prepared": "text"}`` (package
managers), or with markers for binary and oversized files. :func:`render` makes one
unified diff text out of the entries of one task on one host, redacted, so that plans,
merge-request comments and the UI show the same thing. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from truenorth.core import plans, redaction

__all__ = ["MAX_DIFF_CHARS", "action_of", "render"]

#: A plan shows at most this much diff per task and host; the rest is cut with a note.
MAX_DIFF_CHARS = 20_000
#: Path parts of Ansible's temporary files (a template's rendered source).
_TEMP_MARKERS = ("/ansible-local-", "/ansible-tmp-", "/tn-ansible-")


def render(entries: Iterable[Mapping[str, Any]], *, redactor: redaction.Redactor) -> str:
    """One redacted unified diff for all ``entries`` (empty when there is nothing to show)."""
    parts = [text for text in (_render_entry(entry) for entry in entries) if text]
    text = redactor("\n".join(parts))
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + f"\n... (diff cut at {MAX_DIFF_CHARS} characters)"
    return text


def action_of(entries: Iterable[Mapping[str, Any]]) -> plans.Action:
    """What a changed task does, read from its diff: ``create``, ``delete`` or ``update``.

    Nothing before (a file Ansible found absent: ``before: ""`` without a
    ``before_header``; a ``state: absent`` or empty before) is a create; ``state: absent``
    after (or nothing after where there was something) is a delete; everything else, and
    a module that reports no before/after (``user``, package managers' ``prepared``
    text), is an update. A task whose entries disagree creates if any entry creates
    (the new file's attributes come with it), deletes only if every entry deletes.
    """
    found = [_entry_action(entry) for entry in entries]
    kinds = [item for item in found if item is not None]
    if plans.Action.CREATE in kinds:
        return plans.Action.CREATE
    if kinds and all(item is plans.Action.DELETE for item in kinds):
        return plans.Action.DELETE
    return plans.Action.UPDATE


def _entry_action(entry: Mapping[str, Any]) -> plans.Action | None:
    """One diff entry's verdict; None when it has no before/after to judge by."""
    if "before" not in entry and "after" not in entry:
        return None
    before, after = entry.get("before"), entry.get("after")
    if _absent(before, header=entry.get("before_header")) and not _absent(after, header="x"):
        return plans.Action.CREATE
    if _absent(after, header="x") and not _absent(before, header="x"):
        return plans.Action.DELETE
    return plans.Action.UPDATE


def _absent(value: Any, *, header: Any) -> bool:
    """True when a diff side says the thing does not exist.

    Text counts as absent only when empty and without a header: Ansible names the file it
    read (``before_header``) and leaves it out for a file it found missing.
    """
    if value is None:
        return True
    if isinstance(value, Mapping):
        return value.get("state") == "absent"
    if isinstance(value, str):
        return value == "" and not header
    return False


def _render_entry(entry: Mapping[str, Any]) -> str:
    notes = []
    for key, label in (("src_binary", "source is binary"), ("dst_binary", "target is binary")):
        if entry.get(key):
            notes.append(f"({label}; no diff shown)")
    for key, label in (("src_larger", "source"), ("dst_larger", "target")):
        if entry.get(key):
            notes.append(f"({label} larger than {entry[key]} bytes; no diff shown)")
    prepared = entry.get("prepared")
    if isinstance(prepared, str) and prepared.strip():
        notes.append(prepared.rstrip("\n"))
    if "before" in entry or "after" in entry:
        before = _as_text(entry.get("before"))
        after = _as_text(entry.get("after"))
        if before != after:
            before_header = _header(entry.get("before_header"))
            after_header = _header(entry.get("after_header")) or before_header
            before_name = "before" + (f": {before_header}" if before_header else "")
            after_name = "after" + (f": {after_header}" if after_header else "")
            lines = difflib.unified_diff(
                before.splitlines(),
                after.splitlines(),
                fromfile=before_name,
                tofile=after_name,
                lineterm="",
            )
            notes.append("\n".join(lines))
    return "\n".join(notes)


def _header(value: Any) -> str:
    """A diff header, without Ansible's temporary render paths (they mean nothing later)."""
    text = str(value or "")
    return "" if any(marker in text for marker in _TEMP_MARKERS) else text


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"
