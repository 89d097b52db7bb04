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

from truenorth.core import redaction

__all__ = ["MAX_DIFF_CHARS", "render"]

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
