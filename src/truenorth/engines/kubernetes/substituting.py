"""Putting a stack's inputs into its rendered objects: Flux's ``postBuild.substitute`` rules.

A Kubernetes stack that declares ``inputs:`` (``db_host: database.address``) writes
``${db_host}`` where the value goes, as Flux users do. After rendering (plain YAML or
Kustomize) and before anything is compared or applied, every string value of every
object is scanned:

- ``${NAME}`` is replaced by the input's value; ``${NAME:=default}`` uses ``default``
  when the stack has no input ``NAME``; ``$${NAME}`` is an escape and yields the literal
  ``${NAME}``. Names are Flux's: ``[_a-zA-Z][_a-zA-Z0-9]*``.
- An object labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` is
  left alone.
- A ``${NAME}`` with no value and no default, or a ``${`` that does not start one of the
  forms above, is an error naming the object, the field and the variable (never the text
  around it: it may be part of a Secret).

Unlike Flux, which substitutes the YAML text and parses it again, this works on the
parsed objects' string scalars (keys are never touched), so a value can never add
structure. When a whole scalar is exactly ``${NAME}`` and the value is a number or a
boolean, the typed value replaces it; otherwise a string value is inserted as it is and
any other JSON value as its canonical JSON. A default is always text.

Sensitive inputs may only be substituted into a core ``v1`` Secret's ``stringData`` or
``data`` values (in ``data`` only as a whole value, which is base64-encoded, as is any
value put into ``data``); anywhere else is an error naming the object and the field, and
no message ever contains a value. The scanner is one left-to-right loop (linear in the
text), and the characters substitution adds are bounded (:attr:`Substitution.max_chars`).
Pure: no I/O; objects are rewritten in place (they are freshly parsed).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from truenorth.core import outputs

__all__ = [
    "DISABLE_KEY",
    "DISABLE_VALUE",
    "Substitution",
    "SubstitutionError",
    "is_disabled",
]

#: The label or annotation that turns substitution off for one object (Flux's).
DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
DISABLE_VALUE = "disabled"

_FIRST = frozenset("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_REST = _FIRST | frozenset("0123456789")
_SECRET_FIELDS = ("data", "stringData")
_HINT = f"write $${{...}} to keep it as it is, or label or annotate the object {DISABLE_KEY}: {DISABLE_VALUE}"


class SubstitutionError(ValueError):
    """A reference that cannot be substituted; the message never contains a value."""


def is_disabled(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` opts out of substitution with Flux's label or annotation."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return False
    for name in ("annotations", "labels"):
        marks = metadata.get(name)
        if isinstance(marks, Mapping) and marks.get(DISABLE_KEY) == DISABLE_VALUE:
            return True
    return False


@dataclass(frozen=True)
class _Ref:
    """One ``${...}`` found in a string: where it is, its name and its default."""

    start: int
    end: int
    name: str
    default: str | None


@dataclass(frozen=True)
class _Slot:
    """Where a value sits in its object: its key, and the slot of the value holding it."""

    key: str | int
    parent: _Slot | None

    def path(self) -> str:
        """``spec.template.spec.containers[0].image`` (built only for an error)."""
        parts: list[str] = []
        slot: _Slot | None = self
        while slot is not None:
            parts.append(f"[{slot.key}]" if isinstance(slot.key, int) else f".{slot.key}")
            slot = slot.parent
        return "".join(reversed(parts)).lstrip(".")

    @property
    def secret_field(self) -> str | None:
        """``data`` or ``stringData`` when this slot is a value directly under one of them."""
        parent = self.parent
        if parent is None or parent.parent is not None or not isinstance(self.key, str):
            return None
        return parent.key if parent.key in _SECRET_FIELDS else None


class Substitution:
    """Substitutes one stack's inputs into its objects, counting what it adds.

    ``inputs`` are the stack's resolved inputs by name (only known ones have a value).
    ``max_chars`` bounds the characters all substitutions of the stack add together.
    """

    def __init__(self, inputs: outputs.Input, *, max_chars: int = 16 * 1024 * 1024) -> None:
        self._inputs = inputs
        self.max_chars = max_chars
        self.added = 0

    def apply(self, obj: dict[str, Any], *, label: str) -> None:
        """Substitute into every string value of ``obj`` (in place); ``label`` names it in errors."""
        if is_disabled(obj):
            return
        secret = obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"
        pending: list[tuple[dict[str, Any] | list[Any], _Slot | None]] = [(obj, None)]
        while pending:  # iterative: a deeply nested object cannot exhaust the interpreter's stack
            container, parent = pending.pop()
            keys: Any = container.keys() if isinstance(container, dict) else range(len(container))
            for key in list(keys):
                value = container[key]
                if isinstance(value, dict | list):
                    pending.append((value, _Slot(key, parent)))
                elif isinstance(value, str) and "${" in value:
                    slot = _Slot(key, parent)
                    container[key] = self._string(value, slot=slot, secret=secret, label=label)

    def _string(self, text: str, *, slot: _Slot, secret: bool, label: str) -> Any:
        refs = _scan(text, where=lambda: f"{label}: {slot.path()}")
        if not refs:
            return text
        field = slot.secret_field if secret else None
        whole = len(refs) == 1 and refs[0].start == 0 and refs[0].end == len(text)
        if field == "data" and not whole and any(ref.name for ref in refs):
            raise SubstitutionError(
                f"{label}: {slot.path()}: a Secret's data value can only be substituted whole "
                "(exactly ${NAME}, which is base64-encoded); use stringData to build a value from parts"
            )
        parts: list[str] = []
        at = 0
        for ref in refs:
            parts.append(text[at : ref.start])
            at = ref.end
            if not ref.name:  # the $${ escape
                parts.append("${")
                continue
            value, sensitive, typed = self._value(ref, label=label, slot=slot)
            if sensitive and field is None:
                raise SubstitutionError(
                    f"{label}: {slot.path()}: the sensitive input {ref.name} may only be substituted into "
                    "a v1 Secret's stringData or data values"
                )
            if whole and typed and field is None:
                self._count(1, label=label)
                return value
            shown = value if isinstance(value, str) else outputs.canonical_json(value)
            self._count(len(shown), label=label)
            parts.append(shown)
        parts.append(text[at:])
        result = "".join(parts)
        if field == "data" and any(ref.name for ref in refs):
            return base64.b64encode(result.encode("utf-8")).decode("ascii")
        return result

    def _value(self, ref: _Ref, *, label: str, slot: _Slot) -> tuple[Any, bool, bool]:
        """(value, sensitive, typed) for ``ref``; typed when a number or boolean may replace a whole scalar."""
        item = self._inputs.get(ref.name)
        if item is None:
            if ref.default is not None:
                return ref.default, False, False
            raise SubstitutionError(
                f"{label}: {slot.path()}: ${{{ref.name}}} has no value (the stack has no input "
                f"{ref.name} and the reference has no default; write ${{{ref.name}:=default}} for one)"
            )
        if not item.known:
            raise SubstitutionError(
                f"{label}: {slot.path()}: the input {ref.name} is {outputs.known_after(item.ref.stack)}"
            )
        value = item.value
        typed = isinstance(value, bool | int | float)
        return value, item.sensitive, typed

    def _count(self, size: int, *, label: str) -> None:
        self.added += size
        if self.added > self.max_chars:
            raise SubstitutionError(
                f"{label}: substitution adds more than {self.max_chars} characters to the stack's "
                "objects (limit)"
            )


def _scan(text: str, *, where: Callable[[], str]) -> list[_Ref]:
    """Every ``${NAME}``, ``${NAME:=default}`` and ``$${`` escape (name ``""``) in ``text``.

    One pass, left to right: each character is looked at a bounded number of times.
    """
    found: list[_Ref] = []
    end = len(text)
    at = text.find("$")
    while 0 <= at < end:
        if text.startswith("$${", at):
            found.append(_Ref(start=at, end=at + 3, name="", default=None))
            at = text.find("$", at + 3)
            continue
        if not text.startswith("${", at):
            at = text.find("$", at + 1)
            continue
        first = at + 2
        cursor = first
        if cursor < end and text[cursor] in _FIRST:
            cursor += 1
            while cursor < end and text[cursor] in _REST:
                cursor += 1
        if cursor == first:
            raise SubstitutionError(
                f"{where()}: the ${{ at character {at + 1} does not start a variable name "
                f"([_a-zA-Z][_a-zA-Z0-9]*); {_HINT}"
            )
        # The name is not quoted below: in a Secret it would be a fragment of the value.
        name = text[first:cursor]
        if cursor < end and text[cursor] == "}":
            found.append(_Ref(start=at, end=cursor + 1, name=name, default=None))
            at = text.find("$", cursor + 1)
            continue
        if text.startswith(":=", cursor):
            close = text.find("}", cursor + 2)
            if close < 0:
                raise SubstitutionError(
                    f"{where()}: the ${{ at character {at + 1} opens a default that is not closed with }}"
                )
            found.append(_Ref(start=at, end=close + 1, name=name, default=text[cursor + 2 : close]))
            at = text.find("$", close + 1)
            continue
        raise SubstitutionError(
            f"{where()}: the ${{ at character {at + 1} is not a supported reference (only ${{NAME}} "
            f"and ${{NAME:=default}} are); {_HINT}"
        )
    return found
