"""The merge-request comment: what a merge request will do, stack by stack, in Markdown.

:func:`render` turns a :class:`Preview` (the plans of the stacks a merge request
affects, the stacks it leaves alone and why, both revisions) into the one comment
truenorth keeps on a merge request, and the CLI prints (``truenorth plan --format
markdown``): a headline in Atlantis' words, a summary table (Terraform: to add, change,
destroy; Ansible: hosts changed and unknown; Kubernetes: objects created, changed,
pruned), one collapsible ``<details>`` section per stack with its changes in the engine's
own diff style, downstream stacks marked "planned after X applies", and the stacks not
planned with their reason. The first line is a hidden :data:`MARKER`, by which the
forge adapters find their earlier comment to edit it instead of adding another.

Everything shown was written by somebody else (stack and resource names, commit
subjects, diffs) and is escaped where it lands: table cells and prose are HTML-escaped
and every Markdown punctuation is backslash-escaped (and ``@`` is followed by a
zero-width space: no mention pings a team), ``<summary>`` text is HTML-escaped on one line, and each code block is fenced with
more backticks than any run inside it, so no text can close its block, open a link or
inject HTML. Plans are already redacted (sensitive values read ``(sensitive value)``);
control and bidirectional characters are written as visible escapes.

A forge caps a comment (:data:`LIMITS`: GitHub and Gitea 65,536 characters, GitLab
1,000,000). Over the cap, sections are kept whole while they fit, the first one that
does not is cut at a line with a visible note, and the rest are named in a closing note:
the comment is never cut silently, and never longer than the limit. Pure: no I/O.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from truenorth import texts
from truenorth.core import plans

__all__ = [
    "LIMITS",
    "MARKER",
    "Applied",
    "Preview",
    "Revision",
    "Skipped",
    "StackPreview",
    "escape",
    "fenced",
    "render",
    "render_applied",
]

#: The hidden first line that identifies truenorth's comment on a merge request.
MARKER = "<!-- truenorth:plan -->"
#: Comment size caps, in characters, by forge (each forge's documented or default limit).
LIMITS = {"github": 65_536, "gitlab": 1_000_000, "gitea": 65_536}

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&\"'@:=$^%])")
_BACKTICKS = re.compile(r"`+")
_MAX_NAME = 200
_MAX_VALUE = 200
_MAX_SKIPPED_NOTE = 2000
_SYMBOLS = {
    plans.Action.CREATE: ("+", "will be created"),
    plans.Action.UPDATE: ("!", "will be updated in-place"),
    plans.Action.DELETE: ("-", "will be destroyed"),
    plans.Action.REPLACE: ("!", "must be replaced"),
    plans.Action.READ: ("#", "will be read during apply"),
    plans.Action.UNKNOWN: ("?", "cannot be predicted (check mode)"),
}


@dataclass(frozen=True)
class Revision:
    """One side of the merge request: a commit, its branch and subject (both may be empty)."""

    sha: str
    ref: str = ""
    subject: str = ""


@dataclass(frozen=True)
class StackPreview:
    """One planned stack: its plan, or the error that stopped it.

    ``after`` names the stacks it depends on that the merge request changes too: it was
    planned as if they had applied (with their planned outputs, where known).
    """

    stack: str
    engine: str
    plan: plans.Plan | None = None
    error: str | None = None
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A stack not planned, and why (unchanged; waits for a failed dependency; not allowed)."""

    stack: str
    reason: str


@dataclass(frozen=True)
class Preview:
    """What a merge request does: ``head`` compared with ``base``."""

    repository: str
    base: Revision
    head: Revision
    stacks: tuple[StackPreview, ...]
    skipped: tuple[Skipped, ...] = ()
    #: The stack pages in the web UI start here (None: no links).
    link: str | None = None


@dataclass(frozen=True)
class Applied:
    """One stack after the merge: its sync state, the revision it is applied at, its error."""

    stack: str
    state: str
    applied: str | None = None
    error: str | None = None


def render_applied(
    *,
    repository: str,
    revision: Revision,
    stacks: tuple[Applied, ...],
    link: str | None = None,
    limit: int = LIMITS["github"],
) -> str:
    """The comment once a merge request is merged: what the reconcile did with each stack."""
    done = sum(1 for item in stacks if item.applied == revision.sha)
    lines = [
        MARKER,
        f"### truenorth apply: {escape(repository)}",
        "",
        f"Merged as {_revision(revision)}: {done} of {len(stacks)} stack(s) at this revision.",
        "",
    ]
    if link and link.startswith(("https://", "http://")):
        lines += [f"[Open in truenorth](<{_link(link)}>)", ""]
    lines += ["| Stack | State | Applied at |", "| --- | --- | --- |"]
    for item in stacks:
        at = (
            f"`{item.applied[:12]}`"
            if item.applied and re.fullmatch(r"[0-9a-f]{4,64}", item.applied)
            else "-"
        )
        lines.append(f"| {escape(item.stack)} | {escape(item.state)} | {at} |")
    errors = [item for item in stacks if item.error]
    for item in errors:
        lines += ["", f"<details><summary>{_summary_text(item.stack)}: error</summary>", ""]
        lines += [
            fenced(texts.escape_controls(texts.bound(item.error or "", 5000)), info="text"),
            "</details>",
        ]
    text = "\n".join(lines) + "\n"
    if len(text) > limit:
        note = f"\n\n_Cut at the comment limit of {limit:,} characters._\n"
        text = text[: limit - len(note)] + note
    return text


def escape(text: str, *, limit: int = _MAX_NAME) -> str:
    """``text`` as inert Markdown inline text on one line: bounded, HTML- and Markdown-escaped."""
    one_line = " ".join(texts.escape_controls(texts.bound(text, limit), keep_newlines=False).split())
    # A zero-width space after "@": shown the same, and no forge reads it as a mention.
    return _PUNCTUATION.sub(r"\\\1", one_line).replace("\\@", "@&#8203;")


def _summary_text(text: str) -> str:
    """``text`` for a ``<summary>`` (raw HTML, one line)."""
    one_line = " ".join(texts.escape_controls(texts.bound(text, _MAX_NAME), keep_newlines=False).split())
    return html.escape(one_line).replace("@", "@&#8203;")


def fenced(body: str, *, info: str = "") -> str:
    """``body`` in a code block whose fence is longer than any backtick run in it."""
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body.rstrip(chr(10))}\n{fence}\n"


def render(preview: Preview, *, limit: int = LIMITS["github"]) -> str:
    """The comment, at most ``limit`` characters, starting with :data:`MARKER`."""
    if limit < 2000:
        raise ValueError("a comment limit under 2,000 characters leaves no room for a plan")
    head = _header(preview)
    rows = _table(preview)
    skipped = _skipped(preview)
    sections = [_section(item) for item in preview.stacks]
    budget = limit - len(head) - len(skipped) - 600  # room for the closing note
    out = [head]
    used = 0
    kept_rows = 0
    for row in rows:
        if used + len(row) > budget // 2:
            break
        out.append(row)
        used += len(row)
        kept_rows += 1
    if kept_rows < len(rows):
        out.append(
            f"\n_{len(rows) - kept_rows} more rows not shown: the comment limit is {limit:,} characters._\n"
        )
    out.append("\n")
    left_out: list[str] = []
    for index, section in enumerate(sections):
        if left_out:
            left_out.append(preview.stacks[index].stack)
            continue
        if used + len(section) <= budget:
            out.append(section)
            used += len(section)
            continue
        room = budget - used
        if room > 1000:
            out.append(_cut(preview.stacks[index], room, limit))
            used = budget
        else:
            left_out.append(preview.stacks[index].stack)
    if left_out:
        names = escape(", ".join(left_out), limit=_MAX_SKIPPED_NOTE)
        out.append(
            f"\n> [!WARNING]\n> {len(left_out)} more stack(s) not shown (the comment limit is "
            f"{limit:,} characters): {names}\n"
        )
    out.append(skipped)
    text = "".join(out)
    if len(text) > limit:  # cannot happen by the budget above; never cut silently all the same
        note = f"\n\n_Cut at the comment limit of {limit:,} characters._\n"
        text = text[: limit - len(note)] + note
    return text


def _header(preview: Preview) -> str:
    planned = [item for item in preview.stacks if item.plan is not None]
    changed = sum(1 for item in planned if item.plan is not None and item.plan.has_changes)
    failed = sum(1 for item in preview.stacks if item.plan is None)
    lines = [
        MARKER,
        f"### truenorth plan: {escape(preview.repository)}",
        "",
        f"Head {_revision(preview.head)} against base {_revision(preview.base)}.",
        "",
        f"**{len(preview.stacks)} stack(s) planned, {changed} with changes, "
        f"{len(planned) - changed} with no changes, {failed} failed; "
        f"{len(preview.skipped)} not planned.**",
        "",
    ]
    if preview.link and preview.link.startswith(("https://", "http://")):
        lines += [f"[Open in truenorth](<{_link(preview.link)}>)", ""]
    return "\n".join(lines) + "\n"


def _revision(revision: Revision) -> str:
    sha = revision.sha
    text = f"`{sha[:12]}`" if re.fullmatch(r"[0-9a-fA-F]{4,64}", sha) else escape(sha)
    if revision.ref:
        text += f" ({escape(revision.ref)})"
    if revision.subject:
        text += f" {escape(revision.subject)}"
    return text


def _link(url: str) -> str:
    """A URL for ``[text](<url>)``: no ``<``, ``>``, newline or space can end it."""
    return url.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20").replace("\n", "")


def _table(preview: Preview) -> list[str]:
    if not preview.stacks:
        return ["_No stack is affected by this merge request._\n"]
    rows = ["| Stack | Engine | Changes | Status |\n", "| --- | --- | --- | --- |\n"]
    for item in preview.stacks:
        rows.append(f"| {escape(item.stack)} | {escape(item.engine)} | {_counts(item)} | {_status(item)} |\n")
    return rows


def _counts(item: StackPreview) -> str:
    """The counts in the engine's words (digits and words only: safe as Markdown and HTML)."""
    if item.plan is None:
        return "-"
    summary = item.plan.summary
    if item.engine == "terraform":
        text = f"{summary.add} to add, {summary.change} to change, {summary.destroy} to destroy"
        return text + (f", {summary.outputs} output(s)" if summary.outputs else "")
    if item.engine == "ansible":
        text = f"{summary.hosts_changed} host(s) changed, {summary.hosts_unknown} unknown"
        return text + (f", {summary.hosts_unreachable} unreachable" if summary.hosts_unreachable else "")
    if item.engine == "kubernetes":
        return f"{summary.add} created, {summary.change} changed, {summary.destroy} pruned"
    return summary.headline()


def _status(item: StackPreview) -> str:
    if item.plan is None:
        return "failed"
    words = []
    if item.plan.waiting_for:
        waiting = ", ".join(value.ref.source for value in item.plan.waiting_for)
        words.append(f"waits for {escape(waiting)}")
    elif item.plan.has_changes:
        words.append("changes")
    else:
        words.append("no changes")
    if item.after:
        words.append(f"planned after {escape(', '.join(item.after))} applies")
    return "; ".join(words)


def _skipped(preview: Preview) -> str:
    if not preview.skipped:
        return ""
    lines = ["", "<details><summary>Stacks not planned</summary>", ""]
    lines += [f"- {escape(item.stack)}: {escape(item.reason, limit=500)}" for item in preview.skipped]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _section(item: StackPreview, body: str | None = None) -> str:
    title = f"{item.stack} ({item.engine}): "
    if item.plan is None:
        title += "failed"
    elif item.plan.waiting_for:
        title += "waits for " + ", ".join(value.ref.source for value in item.plan.waiting_for)
    elif not item.plan.has_changes:
        title += "no changes"
    else:
        title += _counts(item)
    text = body if body is not None else _body(item)
    return f"<details><summary>{_summary_text(title)}</summary>\n\n{text}\n</details>\n\n"


def _body(item: StackPreview) -> str:
    parts = []
    if item.after:
        parts.append(f"Planned after {escape(', '.join(item.after))} applies.\n\n")
    if item.plan is None:
        parts.append(fenced(texts.escape_controls(texts.bound(item.error or "no plan", 20_000)), info="text"))
        return "".join(parts)
    if item.plan.waiting_for:
        waits = ", ".join(f"{value.name} = {value.placeholder()}" for value in item.plan.waiting_for)
        parts.append(f"Not planned yet: inputs not known: {escape(waits, limit=1000)}.\n")
        return "".join(parts)
    lines = list(_diff_lines(item.plan))
    if lines:
        parts.append(fenced(texts.escape_controls("\n".join(lines)), info="diff"))
    else:
        parts.append(f"No changes. {escape(item.stack)} matches the configuration.\n")
    return "".join(parts)


def _cut(item: StackPreview, room: int, limit: int) -> str:
    """The section of ``item`` cut at a line so that it fits ``room``, with a note."""
    full = "\n".join(_diff_lines(item.plan)) if item.plan is not None else (item.error or "")
    kept = full[: max(0, room - 800)]
    kept = kept[: kept.rfind("\n")] if "\n" in kept else kept
    note = (
        f"\n> [!WARNING]\n> Cut: {len(full) - len(kept):,} more characters of this plan are not shown "
        f"(the comment limit is {limit:,} characters).\n"
    )
    body = fenced(texts.escape_controls(kept), info="diff") + note
    return _section(item, body=body)


def _diff_lines(plan: plans.Plan) -> Iterable[str]:
    """The plan's changes as diff lines, the marker in the first column as Atlantis writes them."""
    for change in plan.changed:
        symbol, words = _SYMBOLS.get(change.action, ("#", change.action.value))
        header = f"{symbol} # {change.address} {words}"
        if change.reason:
            header += f" ({change.reason})"
        yield header
        if change.diff:
            yield from change.diff.splitlines()
            continue
        yield from _attributes(change)


def _attributes(change: plans.Change) -> Iterable[str]:
    before = change.before if isinstance(change.before, dict) else {}
    after = change.after if isinstance(change.after, dict) else {}
    if change.action is plans.Action.CREATE:
        for key, value in sorted(after.items()):
            if value is not None:
                yield f"+     {key} = {_value(value)}"
    elif change.action is plans.Action.DELETE:
        for key, value in sorted(before.items()):
            if value is not None:
                yield f"-     {key} = {_value(value)}"
    else:
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                yield f"!     {key} = {_value(before.get(key))} -> {_value(after.get(key))}"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) and value.startswith("(") else json.dumps(value, sort_keys=True)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."
