"""Plans and runs as people read them: a Terraform-like diff per stack, and tables.

Everything printed here comes from recorded, already-redacted data. User-controlled text
(stack names, addresses, commit subjects) is printed as plain text, never as markup, so
a crafted name cannot restyle or hide output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from truenorth.core import plans

__all__ = ["format_value", "print_plan", "print_totals"]

_SYMBOLS = {
    plans.Action.CREATE: ("+", "green", "will be created"),
    plans.Action.UPDATE: ("~", "yellow", "will be updated in-place"),
    plans.Action.DELETE: ("-", "red", "will be destroyed"),
    plans.Action.REPLACE: ("-/+", "magenta", "must be replaced"),
    plans.Action.READ: ("<=", "cyan", "will be read during apply"),
    plans.Action.UNKNOWN: ("?", "bright_magenta", "cannot be predicted (check mode)"),
}
_MAX_VALUE = 200


def format_value(value: Any) -> str:
    """A short, single-line rendering of a JSON value."""
    text = value if isinstance(value, str) and value.startswith("(") else json.dumps(value, sort_keys=True)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def print_plan(console: Console, plan: plans.Plan) -> None:
    """Print every change of ``plan`` (no-ops omitted), then its headline."""
    changed = plan.changed
    if not changed:
        console.print(Text(f"  No changes. {plan.stack} matches the configuration.", style="green"))
        return
    for change in changed:
        _print_change(console, change)
    console.print(Text(f"  Plan: {plan.summary.headline()}", style="bold"))


def _print_change(console: Console, change: plans.Change) -> None:
    _symbol, style, words = _SYMBOLS[change.action]
    header = Text("  # ")
    header.append(change.address, style="bold")
    header.append(f" {words}")
    if change.reason:
        header.append(f" ({change.reason})", style="dim")
    console.print(header)
    if change.diff:
        for line in change.diff.splitlines():
            line_style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(Text("      " + line, style=line_style or ""))
        return
    for key, marker, before, after in _attribute_rows(change):
        row = Text(f"      {marker} ", style=style if marker != "~" else "yellow")
        row.append(f"{key} = ")
        if marker == "~":
            row.append(f"{format_value(before)} -> {format_value(after)}")
        else:
            row.append(format_value(after if marker == "+" else before))
        console.print(row)


def _attribute_rows(change: plans.Change) -> Iterable[tuple[str, str, Any, Any]]:
    before = change.before if isinstance(change.before, dict) else {}
    after = change.after if isinstance(change.after, dict) else {}
    if change.action is plans.Action.CREATE:
        return [(key, "+", None, value) for key, value in sorted(after.items()) if value is not None]
    if change.action is plans.Action.DELETE:
        return [(key, "-", value, None) for key, value in sorted(before.items()) if value is not None]
    rows = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            rows.append((key, "~", before.get(key), after.get(key)))
    return rows


def print_totals(console: Console, plans_: Sequence[plans.Plan], *, failed: int) -> None:
    """The closing line over all stacks."""
    add = sum(p.summary.add for p in plans_)
    change = sum(p.summary.change for p in plans_)
    destroy = sum(p.summary.destroy for p in plans_)
    with_changes = sum(1 for p in plans_ if p.has_changes)
    total = len(plans_) + failed
    console.print(
        Text(
            f"{total} stacks, {with_changes} with changes, {len(plans_) - with_changes} with no changes, "
            f"{failed} failed. Total: {add} to add, {change} to change, {destroy} to destroy.",
            style="bold",
        )
    )
