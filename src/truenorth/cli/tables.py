"""Plans and runs as people read them: a Terraform-like diff per stack, and tables.

Everything printed here comes from recorded, already-redacted data. User-controlled text
(stack names, addresses, commit subjects) is printed as plain text, never as markup, so
a crafted name cannot restyle or hide output. Every console the CLI prints with comes
from :func:`console`: it writes terminal control characters in that text (ESC, CR, the
bidi overrides) as visible escapes, so a commit subject or a log line cannot move the
cursor, rewrite a line or reorder what is shown. Only rich's own styling reaches the
terminal as control codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.segment import Segment
from rich.text import Text

from truenorth import texts
from truenorth.core import plans

__all__ = ["console", "format_value", "print_plan", "print_totals", "terminal_safe"]

_SYMBOLS = {
    plans.Action.CREATE: ("+", "green", "will be created"),
    plans.Action.UPDATE: ("~", "yellow", "will be updated in-place"),
    plans.Action.DELETE: ("-", "red", "will be destroyed"),
    plans.Action.REPLACE: ("-/+", "magenta", "must be replaced"),
    plans.Action.READ: ("<=", "cyan", "will be read during apply"),
    plans.Action.UNKNOWN: ("?", "bright_magenta", "cannot be predicted (check mode)"),
}
_MAX_VALUE = 200


def console(*, stderr: bool = False) -> Console:
    """A console for the CLI's text output, escaping control characters in what it prints."""
    made = Console(stderr=stderr, highlight=False, soft_wrap=True)
    made.push_render_hook(_EscapingHook())
    return made


def terminal_safe(text: str) -> str:
    """``text`` for a terminal written without rich: control characters escaped, lines kept."""
    return texts.escape_controls(text)


class _Escaped:
    """Renders ``inner`` with every text segment's control characters escaped."""

    def __init__(self, inner: RenderableType) -> None:
        self._inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self._inner, options):
            if segment.control or not segment.text:
                yield segment
            else:
                yield Segment(texts.escape_controls(segment.text), segment.style)


class _EscapingHook(RenderHook):
    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [_Escaped(item) for item in renderables]


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
