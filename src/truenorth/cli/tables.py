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
from collections.abc import Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.segment import Segment
from rich.text import Text

from truenorth import texts
from truenorth.cli import diffs
from truenorth.core import outputs, plans

__all__ = ["console", "format_value", "print_inputs", "print_plan", "print_totals", "terminal_safe"]

_SYMBOLS = {
    plans.Action.CREATE: ("+", "green", "will be created"),
    plans.Action.UPDATE: ("~", "yellow", "will be updated in-place"),
    plans.Action.DELETE: ("-", "red", "will be destroyed"),
    plans.Action.REPLACE: ("-/+", "magenta", "must be replaced"),
    plans.Action.READ: ("<=", "cyan", "will be read during apply"),
    plans.Action.UNKNOWN: ("?", "bright_magenta", "cannot be predicted (check mode)"),
}
_MAX_VALUE = 200
#: Each diff line's colour, by its marker.
_MARKER_STYLES = {"+": "green", "-": "red", "~": "yellow"}
#: ``Plan.meta`` key an engine sets when ``Plan.output`` is its complete rendering of the
#: plan (Terraform's own, :mod:`truenorth.engines.terraform.renderings`).
NATIVE_TEXT = "native_text"


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
    """Print the inputs ``plan`` was made with, every change (no-ops omitted), then its headline."""
    print_inputs(console, plan.inputs)
    waiting = plan.waiting_for
    if waiting:
        names = ", ".join(f"{item.name} {item.placeholder()}" for item in waiting)
        console.print(
            Text(f"  Not planned yet: waiting for input {names}; planned again then.", style="yellow")
        )
        return
    changed = plan.changed
    if not changed:
        _print_host_problems(console, plan)
        if plan.partial:
            console.print(Text("  No changes on the hosts that were checked.", style="yellow"))
        else:
            console.print(Text(f"  No changes. {plan.stack} matches the configuration.", style="green"))
        return
    if plan.meta.get(NATIVE_TEXT) is True and plan.output.strip():
        _print_native(console, plan.output)
        return
    for change in changed:
        _print_change(console, change)
    _print_host_problems(console, plan)
    if plan.summary.unknown and not plan.waiting_for:
        console.print(
            Text(
                f"  {plan.summary.unknown} unknown: check mode cannot predict them, so they do not "
                "count as changes (--unknown-is-change counts them).",
                style="dim",
            )
        )
    console.print(Text(f"  Plan: {plan.summary.headline()}", style="bold"))


def _print_host_problems(console: Console, plan: plans.Plan) -> None:
    """Hosts a per-host engine (Ansible) could not check to the end, each with its reason."""
    failures = [str(line) for line in plan.meta.get("failures") or ()]
    unreachable = [str(line) for line in plan.meta.get("unreachable") or ()]
    if not plan.partial and not failures and not unreachable:
        return
    if plan.partial:
        console.print(
            Text(
                "  Plan is partial: these hosts were not checked to the end, "
                "so their later tasks are not in this plan:",
                style="bold yellow",
            )
        )
    for line in unreachable:
        console.print(Text(f"  ! {line}", style="red"))
    for line in failures:
        console.print(Text(f"  ! {line}", style="red"))


def _print_native(console: Console, text: str) -> None:
    """The engine's own rendering of the plan (Terraform's, as ``terraform show`` prints
    it), indented under the stack's header and coloured by each line's marker."""
    for line in text.rstrip("\n").splitlines():
        marker = line.lstrip()[:3]
        style = (
            "magenta"
            if marker in ("-/+", "+/-")
            else _MARKER_STYLES.get(marker[:1], "bold" if line.startswith("Plan:") else "")
        )
        console.print(Text("  " + line, style=style))


def print_inputs(console: Console, inputs: Sequence[outputs.InputValue]) -> None:
    """The ``Inputs:`` block: each input's value (masked when sensitive, or not known yet)
    and where it came from: ``db_host = "10.0.0.5"  (from network.address)``."""
    if not inputs:
        return
    console.print(Text("  Inputs:", style="bold"))
    for item in inputs:
        shown = item.placeholder() if not item.known or item.sensitive else format_value(item.value)
        row = Text(f"    {item.name} = ")
        row.append(shown, style="yellow" if not item.known else "dim" if item.sensitive else "")
        row.append(f"  (from {item.ref.source})", style="dim")
        console.print(row)


def _print_change(console: Console, change: plans.Change) -> None:
    _symbol, _style, words = _SYMBOLS[change.action]
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
    name = change.name if change.resource_type == "output" else ""
    for row in diffs.attribute_lines(change.before, change.after, name=name):
        console.print(Text("      " + row.render(), style=_MARKER_STYLES.get(row.marker, "")))


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
