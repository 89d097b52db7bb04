"""Field paths into JSON objects: ``.status.loadBalancer.ingress[0].ip``.

A Kubernetes stack declares the outputs it reads from its applied objects
(``outputs: {lb_ip: {object: v1/Service/web, path: .status.loadBalancer.ingress[0].ip}}``).
The spec parser checks each path with :func:`parse` when ``truenorth.yaml`` is read, and
the Kubernetes engine reads the value with :func:`extract` after the stack is healthy.

The syntax is the common subset of kubectl's JSONPath and jq, nothing more:

- ``.name``: a field whose name is letters, digits, ``_`` and ``-``;
- ``["key"]`` or ``['key']``: any field name (``.data["tls.crt"]``,
  ``.metadata.annotations['example.com/owner']``); a backslash escapes the quote or
  itself inside the brackets;
- ``[N]``: the N-th item of a list, from 0.

A path starts with ``.`` or ``[`` and names at least one step. Paths come from a
repository (untrusted): they are bounded (:data:`MAX_LENGTH` characters,
:data:`MAX_STEPS` steps) before anything else looks at them, and read in one left-to-right
pass, so the time is linear in the length. Every error says what is wrong and at which
column (from 1). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_INDEX_DIGITS",
    "MAX_LENGTH",
    "MAX_STEPS",
    "FieldPathError",
    "Step",
    "extract",
    "parse",
    "render",
]

#: The longest path accepted, in characters.
MAX_LENGTH = 512
#: The most steps (fields and indexes) one path may have.
MAX_STEPS = 64
#: The most digits of a list index (``[999999999]``).
MAX_INDEX_DIGITS = 9

#: One step of a path: a field name or a list index.
Step = str | int

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_DIGITS = frozenset("0123456789")


class FieldPathError(ValueError):
    """A path that cannot be read, or a value that is not where the path points.

    ``column`` (from 1) is where a syntax error was found; None for an :func:`extract`
    miss.
    """

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message if column is None else f"{message} (column {column})")
        self.reason = message
        self.column = column


def parse(text: str) -> tuple[Step, ...]:
    """The steps of ``text``: field names as ``str``, list indexes as ``int``.

    Raises :class:`FieldPathError` for an empty, too long or malformed path.
    """
    if not isinstance(text, str):
        raise FieldPathError("a field path must be a string")
    if len(text) > MAX_LENGTH:
        raise FieldPathError(
            f"a field path may have at most {MAX_LENGTH} characters, this one has {len(text)}"
        )
    if not text:
        raise FieldPathError(
            "a field path must not be empty; write it like .status.loadBalancer.ingress[0].ip"
        )
    steps: list[Step] = []
    at = 0
    end = len(text)
    while at < end:
        if len(steps) >= MAX_STEPS:
            raise FieldPathError(f"a field path may have at most {MAX_STEPS} steps", column=at + 1)
        char = text[at]
        if char == ".":
            at, name = _read_name(text, at + 1)
            steps.append(name)
        elif char == "[":
            at, step = _read_bracket(text, at + 1)
            steps.append(step)
        else:
            raise FieldPathError(f"expected '.' or '[' but found {char!r}", column=at + 1)
    return tuple(steps)


def _read_name(text: str, start: int) -> tuple[int, str]:
    """A plain field name after ``.``: returns the index after it and the name."""
    at = start
    end = len(text)
    while at < end and text[at] in _NAME_CHARS:
        at += 1
    if at == start:
        if start >= end:
            raise FieldPathError("a field name must follow '.'", column=start + 1)
        raise FieldPathError(
            f"a field name after '.' may have letters, digits, '_' and '-'; found {text[start]!r} "
            '(write other names in brackets: ["tls.crt"])',
            column=start + 1,
        )
    return at, text[start:at]


def _read_bracket(text: str, start: int) -> tuple[int, Step]:
    """``[N]``, ``["key"]`` or ``['key']`` after ``[``: the index after ``]`` and the step."""
    end = len(text)
    if start >= end:
        raise FieldPathError("'[' is not closed", column=start)
    char = text[start]
    if char in _DIGITS:
        at = start
        while at < end and text[at] in _DIGITS:
            at += 1
            if at - start > MAX_INDEX_DIGITS:
                raise FieldPathError(
                    f"a list index may have at most {MAX_INDEX_DIGITS} digits", column=start + 1
                )
        if at >= end or text[at] != "]":
            raise FieldPathError("a list index must be followed by ']'", column=at + 1)
        return at + 1, int(text[start:at])
    if char in "\"'":
        quote = char
        at = start + 1
        parts: list[str] = []
        run = at
        while True:
            if at >= end:
                raise FieldPathError(f"the quoted name opened with {quote} is not closed", column=start + 1)
            current = text[at]
            if current == "\\":
                if at + 1 >= end or text[at + 1] not in (quote, "\\"):
                    raise FieldPathError(
                        f"inside a quoted name a backslash may only escape {quote} or itself", column=at + 1
                    )
                parts.append(text[run:at])
                parts.append(text[at + 1])
                at += 2
                run = at
            elif current == quote:
                parts.append(text[run:at])
                at += 1
                break
            else:
                at += 1
        if at >= end or text[at] != "]":
            raise FieldPathError("a quoted name must be followed by ']'", column=at + 1)
        return at + 1, "".join(parts)
    if char == "-":
        raise FieldPathError("a list index must not be negative", column=start + 1)
    raise FieldPathError(
        f"expected a list index or a quoted name after '[' but found {char!r}", column=start + 1
    )


def render(steps: Sequence[Step]) -> str:
    """The text of ``steps`` as :func:`parse` reads it back (``.a["b.c"][0]``)."""
    parts: list[str] = []
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step and all(char in _NAME_CHARS for char in step):
            parts.append(f".{step}")
        else:
            escaped = step.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'["{escaped}"]')
    return "".join(parts)


def extract(obj: Any, steps: Sequence[Step]) -> Any:
    """The value ``steps`` point at inside ``obj`` (a JSON value).

    Raises :class:`FieldPathError` naming the first missing step and where it was looked
    for ("no field 'ip' at .status.loadBalancer.ingress[0]"), for an index past the end
    of a list, and for a step that meets a value of the wrong type.
    """
    current = obj
    for done, step in enumerate(steps):
        if isinstance(step, int) and not isinstance(step, bool):
            if not isinstance(current, list | tuple):
                where = _where(steps, done)
                raise FieldPathError(f"no list at {where} (it is {_kind(current)}), so no item [{step}]")
            if step < 0 or step >= len(current):
                where = _where(steps, done)
                raise FieldPathError(f"no item [{step}] at {where} (the list has {len(current)} items)")
            current = current[step]
        else:
            if not isinstance(current, Mapping):
                where = _where(steps, done)
                raise FieldPathError(f"no object at {where} (it is {_kind(current)}), so no field {step!r}")
            if step not in current:
                raise FieldPathError(f"no field {step!r} at {_where(steps, done)}")
            current = current[step]
    return current


def _where(steps: Sequence[Step], done: int) -> str:
    """The path walked so far, for an error: ``.a.b``, or "the top" before any step."""
    return render(steps[:done]) or "the top"


def _kind(value: Any) -> str:
    """A JSON type's name in words, for errors (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "a value"
