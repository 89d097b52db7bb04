"""Values one stack hands to another: outputs out of an apply, inputs into a plan.

Terraform, Ansible and Kubernetes feed each other: Terraform creates a database, Ansible
configures hosts with its address, a Kubernetes workload gets the connection string.
Each engine reports its outputs after a successful apply as :class:`Output` values
(Terraform's root module outputs, Ansible's ``set_stats`` data, the fields a Kubernetes
stack declares to read from its applied objects). A stack names what it reads in
``truenorth.yaml`` (``inputs: {db_host: database.address}``: :class:`InputRef`), and
before each plan or apply the controller resolves every reference to an
:class:`InputValue`: the value, whether it is sensitive, where it came from, and a
digest. A value that is not known yet (the upstream stack was never applied, or its
pending plan changes that output) is :data:`UNKNOWN`-valued and says so in words
("known after network applies"); an engine never runs an apply with one.

Sensitive values travel only in memory: their ``repr`` is masked, :meth:`Output.to_dict`
and :meth:`InputValue.to_dict` never contain them, and their digests are keyed (an HMAC
the store computes), so that a digest of a short secret cannot be guessed back.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MASK",
    "Input",
    "InputRef",
    "InputValue",
    "Output",
    "canonical_json",
    "digest_of",
    "known_after",
    "outputs_by_name",
    "sensitive_values",
    "texts_of",
    "unknown_inputs",
]

#: How a sensitive value is shown, everywhere.
MASK = "(sensitive value)"


def known_after(stack: str) -> str:
    """The words for a value that is not known yet, as Terraform shows unknown values."""
    return f"(known after {stack} applies)"


def canonical_json(value: Any) -> str:
    """The one serialization digests and comparisons use (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(value: Any) -> str:
    """SHA-256 of a *non-sensitive* value's canonical JSON (sensitive ones get a keyed digest)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Output:
    """One output of one stack's last successful apply.

    ``value`` is any JSON value. For a sensitive output it is held only in memory
    (never in ``repr``, ``to_dict``, logs or the database in clear).
    """

    name: str
    value: Any = field(repr=False)
    sensitive: bool = False

    def __repr__(self) -> str:
        shown = MASK if self.sensitive else repr(self.value)
        return f"Output(name={self.name!r}, value={shown}, sensitive={self.sensitive})"

    def shown(self) -> Any:
        """The value as it may be shown: masked when sensitive."""
        return MASK if self.sensitive else self.value

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API and the CLI: a sensitive value is masked."""
        return {"name": self.name, "value": self.shown(), "sensitive": self.sensitive}


def outputs_by_name(items: Iterable[Output]) -> dict[str, Output]:
    """The outputs keyed by name (the last wins on a duplicate)."""
    return {item.name: item for item in items}


@dataclass(frozen=True)
class InputRef:
    """``inputs: {NAME: STACK.OUTPUT}`` in ``truenorth.yaml``: what a stack reads."""

    name: str
    stack: str
    output: str

    @property
    def source(self) -> str:
        """``STACK.OUTPUT``, the words plans and errors use."""
        return f"{self.stack}.{self.output}"


@dataclass(frozen=True)
class InputValue:
    """One resolved input, as an engine receives it.

    ``known`` is False while the upstream output is not known yet: ``value`` is then
    None and must not be used; :meth:`placeholder` says why. ``digest`` identifies the
    value (keyed for sensitive ones) so that an apply can refuse inputs that moved since
    its plan, and the controller can tell which dependents an output change touches.
    """

    ref: InputRef
    value: Any = field(default=None, repr=False)
    sensitive: bool = False
    known: bool = True
    digest: str = ""

    def __repr__(self) -> str:
        shown = MASK if self.sensitive else repr(self.value)
        return (
            f"InputValue(ref={self.ref!r}, value={shown}, sensitive={self.sensitive}, "
            f"known={self.known}, digest={self.digest!r})"
        )

    @property
    def name(self) -> str:
        """The input's name inside the stack (variable, extra var, substitution name)."""
        return self.ref.name

    def placeholder(self) -> str:
        """What a plan shows for this input's value."""
        if not self.known:
            return known_after(self.ref.stack)
        return MASK if self.sensitive else canonical_json(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for plans and the API: where it came from; never a sensitive value."""
        return {
            "name": self.name,
            "source": self.ref.source,
            "known": self.known,
            "sensitive": self.sensitive,
            "value": None if not self.known else (MASK if self.sensitive else self.value),
            "digest": self.digest,
        }


#: The resolved inputs of one stack, by name (what :class:`StackContext` carries).
Input = Mapping[str, InputValue]


def unknown_inputs(inputs: Input) -> tuple[InputValue, ...]:
    """The inputs whose value is not known yet, in name order."""
    return tuple(inputs[name] for name in sorted(inputs) if not inputs[name].known)


def sensitive_values(inputs: Input) -> tuple[str, ...]:
    """The text forms of every known sensitive input, for the run's redactor."""
    found: list[str] = []
    for item in inputs.values():
        if item.known and item.sensitive and item.value is not None:
            found.extend(texts_of(item.value))
    return tuple(text for text in found if text)


def texts_of(value: Any) -> list[str]:
    """Every string a sensitive value may appear as in output: itself, its JSON, its leaves."""
    if isinstance(value, str):
        return [value]
    texts = [canonical_json(value)]
    stack: list[Any] = [value]
    while stack:  # iterative: a deep value cannot exhaust the interpreter's stack
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            texts.append(item)
        elif item is not None and not isinstance(item, bool):
            texts.append(str(item))
    return texts
