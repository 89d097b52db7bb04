"""A change's before and after values as a Terraform-style diff, one attribute per line.

What :mod:`.tables` prints for a change with structured values and no engine text of
its own (a stored Terraform plan, an output change, an object without a diff): only
the attributes that change, each marked ``+`` (new), ``-`` (gone) or ``~`` (changed),
nested maps and lists on several lines down to the key that changes, so that a change
deep inside a long value is never hidden. A new map key reads ``+ key = "v"``, never
``~ key = null -> "v"``. ``(known after apply)`` and ``(sensitive value)`` print as
Terraform prints them (bare). Unchanged attributes and list elements are counted
(``# (3 unchanged attributes hidden)``); a long value that is wholly added or removed
folds after :data:`FOLD_AFTER` lines with the count of the lines not shown.

Pure: values in, ``(marker, text)`` lines out. Work is linear in the size of the values
(lists are compared element by element, by position), and the depth is bounded by the
JSON the values came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FOLD_AFTER", "Line", "attribute_lines", "value_lines"]

#: A wholly added or removed value longer than this many lines is folded.
FOLD_AFTER = 40
#: Lines of a folded value shown before the ``# (N more lines hidden)`` line.
_FOLD_KEEP = 30
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ABSENT = object()


@dataclass(frozen=True)
class Line:
    """One printed line: its marker (``+``, ``-``, ``~`` or `` ``) and the text after it."""

    marker: str
    text: str
    depth: int = 0

    def render(self) -> str:
        """The line as printed: indented by depth, the marker before the text."""
        return "    " * self.depth + f"{self.marker} {self.text}"


def attribute_lines(before: Any, after: Any, *, name: str = "") -> list[Line]:
    """The lines of a change from ``before`` to ``after`` (``None`` on the missing side).

    Two maps print as their changed keys; anything else as one attribute called
    ``name`` (an output's name), or as the bare value when ``name`` is empty.
    """
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        return _mapping_changes(before, after, depth=0)
    old = _ABSENT if before is None else before
    new = _ABSENT if after is None else after
    if old is _ABSENT and new is _ABSENT:
        return []
    if isinstance(before, Mapping) and new is _ABSENT:
        return _members("-", before, depth=0)
    if isinstance(after, Mapping) and old is _ABSENT:
        return _members("+", after, depth=0)
    return _entry(name, old, new, depth=0)


def value_lines(value: Any, *, marker: str = " ") -> list[str]:
    """``value`` on as many lines as it needs (nested entries carry ``marker``)."""
    lines = _value(value, marker=marker, depth=0)
    return [lines[0].text] + [line.render() for line in lines[1:]]


# --------------------------------------------------------------------------- diffing


def _mapping_changes(before: Mapping[str, Any], after: Mapping[str, Any], *, depth: int) -> list[Line]:
    keys = sorted(set(before) | set(after), key=str)
    changed = [key for key in keys if before.get(key, _ABSENT) != after.get(key, _ABSENT)]
    width = max((len(_key(key)) for key in changed), default=0)
    lines: list[Line] = []
    for key in changed:
        old = before.get(key, _ABSENT)
        new = after.get(key, _ABSENT)
        lines.extend(_entry(key, _none_absent(old), _none_absent(new), depth=depth, width=width))
    hidden = len(keys) - len(changed)
    if hidden and lines:
        noun = "attribute" if hidden == 1 else "attributes"
        lines.append(Line(" ", f"# ({hidden} unchanged {noun} hidden)", depth))
    return lines


def _entry(key: Any, old: Any, new: Any, *, depth: int, width: int = 0) -> list[Line]:
    """One key's change: added, removed, changed in place, or opened up when nested."""
    label = f"{_key(key).ljust(width)} = " if key != "" else ""
    if old is _ABSENT:
        return _labelled("+", label, new, depth=depth)
    if new is _ABSENT:
        return _labelled("-", label, old, depth=depth)
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        inner = _mapping_changes(old, new, depth=depth + 1)
        return [Line("~", label + "{", depth), *inner, Line(" ", "}", depth)]
    if _is_list(old) and _is_list(new):
        inner = _list_changes(old, new, depth=depth + 1)
        return [Line("~", label + "[", depth), *inner, Line(" ", "]", depth)]
    if old == new:  # both masked: (sensitive value) changed to another secret
        return [Line("~", label + _scalar(new), depth)]
    was = _value(old, marker="-", depth=depth)
    now = _value(new, marker="+", depth=depth)
    joined = [Line("~", label + was[0].text, depth), *was[1:]]
    last = joined[-1]
    joined[-1] = Line(last.marker, f"{last.text} -> {now[0].text}", last.depth)
    return [*joined, *now[1:]]  # never folded: both sides of a change stay in full


def _list_changes(old: Sequence[Any], new: Sequence[Any], *, depth: int) -> list[Line]:
    lines: list[Line] = []
    hidden = 0
    for index in range(max(len(old), len(new))):
        was = old[index] if index < len(old) else _ABSENT
        now = new[index] if index < len(new) else _ABSENT
        if was == now:
            hidden += 1
            continue
        entry = _entry("", was, now, depth=depth)
        entry[-1] = Line(entry[-1].marker, entry[-1].text + ",", entry[-1].depth)
        lines.extend(entry)
    if hidden and lines:
        noun = "element" if hidden == 1 else "elements"
        lines.append(Line(" ", f"# ({hidden} unchanged {noun} hidden)", depth))
    return lines


def _labelled(marker: str, label: str, value: Any, *, depth: int) -> list[Line]:
    lines = _value(value, marker=marker, depth=depth)
    first = Line(marker, label + lines[0].text, depth)
    return _folded([first, *lines[1:]], depth=depth)


def _members(marker: str, value: Mapping[str, Any], *, depth: int) -> list[Line]:
    """Every key of a wholly created (``+``) or destroyed (``-``) object, nulls left out."""
    keys = sorted((key for key in value if value[key] is not None), key=str)
    width = max((len(_key(key)) for key in keys), default=0)
    lines: list[Line] = []
    for key in keys:
        lines.extend(_labelled(marker, f"{_key(key).ljust(width)} = ", value[key], depth=depth))
    return lines


# --------------------------------------------------------------------------- values


def _value(value: Any, *, marker: str, depth: int) -> list[Line]:
    """``value`` as lines; the first line's text is the value's start (no marker yet)."""
    if isinstance(value, Mapping):
        if not value:
            return [Line(marker, "{}", depth)]
        width = max(len(_key(key)) for key in value)
        lines = [Line(marker, "{", depth)]
        for key in sorted(value, key=str):
            inner = _value(value[key], marker=marker, depth=depth + 1)
            lines.append(Line(marker, f"{_key(key).ljust(width)} = {inner[0].text}", depth + 1))
            lines.extend(inner[1:])
        lines.append(Line(" ", "}", depth))
        return lines
    if _is_list(value):
        if not value:
            return [Line(marker, "[]", depth)]
        lines = [Line(marker, "[", depth)]
        for item in value:
            inner = _value(item, marker=marker, depth=depth + 1)
            lines.append(Line(marker, inner[0].text, depth + 1))
            lines.extend(inner[1:])
            lines[-1] = Line(lines[-1].marker, lines[-1].text + ",", lines[-1].depth)
        lines.append(Line(" ", "]", depth))
        return lines
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        body = [Line(marker, json.dumps(part)[1:-1], depth + 1) for part in value.rstrip("\n").split("\n")]
        return [Line(marker, "<<-EOT", depth), *body, Line(" ", "EOT", depth)]
    return [Line(marker, _scalar(value), depth)]


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and value.startswith("(") and value.endswith(")"):
        return value  # (known after apply), (sensitive value), (known after X applies)
    return json.dumps(value, sort_keys=True)


def _folded(lines: list[Line], *, depth: int) -> list[Line]:
    """``lines``, folded after :data:`_FOLD_KEEP` when longer than :data:`FOLD_AFTER`."""
    if len(lines) <= FOLD_AFTER:
        return lines
    hidden = len(lines) - _FOLD_KEEP
    return [*lines[:_FOLD_KEEP], Line(" ", f"# ({hidden} more lines hidden)", depth + 1)]


def _key(key: Any) -> str:
    text = str(key)
    return text if _IDENTIFIER.fullmatch(text) else json.dumps(text)


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _none_absent(value: Any) -> Any:
    """A null attribute reads as absent: ``+ key = v`` rather than ``~ key = null -> v``."""
    return _ABSENT if value is None else value
