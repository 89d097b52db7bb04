"""A Terraform stack's root-module outputs: as applied, and as a plan expects them.

After a successful apply the engine reads the outputs, with their ``sensitive`` flag,
from what Terraform already wrote: the state file of a ``local`` backend (no process),
or ``terraform output -json`` for another backend (its standard output machine-read,
never streamed). Both have the same shape, read by :func:`read_outputs`. A plan reads
the outputs it expects from the saved plan's ``output_changes`` (:func:`planned`): only
those whose value is fully known, sensitive when Terraform marks any part of the value
or the output's declaration sensitive.

Terraform forgets that a value is sensitive once it is read through
``terraform_remote_state``, so an output copying such a value would look harmless.
:func:`guarded` marks sensitive every output whose text the run's redactor would change
(it knows every secret of the run): such a value is never stored or shown in clear.

Pure: documents in, :class:`~truenorth.core.outputs.Output` values out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from truenorth.core import outputs as stack_outputs
from truenorth.core import redaction

__all__ = ["guarded", "planned", "read_outputs", "secrets_of"]


def read_outputs(outputs: Any) -> tuple[stack_outputs.Output, ...]:
    """``{name: {value, type, sensitive}}`` (a state's ``outputs``, ``output -json``), by name."""
    if not isinstance(outputs, Mapping):
        return ()
    found = []
    for name in sorted(outputs):
        entry = outputs[name]
        if isinstance(entry, Mapping) and "value" in entry:
            found.append(
                stack_outputs.Output(
                    name=str(name), value=entry.get("value"), sensitive=entry.get("sensitive") is True
                )
            )
    return tuple(found)


def planned(document: Mapping[str, Any]) -> tuple[stack_outputs.Output, ...]:
    """The outputs a ``show -json`` plan expects after apply whose value is known, by name."""
    changes = document.get("output_changes")
    if not isinstance(changes, Mapping):
        return ()
    declared = _dig(document, "configuration", "root_module", "outputs")
    declared = declared if isinstance(declared, Mapping) else {}
    found = []
    for name in sorted(changes):
        change = changes[name]
        if not isinstance(change, Mapping) or "delete" in (change.get("actions") or ()):
            continue
        if _any_true(change.get("after_unknown")) or "after" not in change:
            continue
        config = declared.get(name)
        sensitive = _any_true(change.get("after_sensitive")) or (
            isinstance(config, Mapping) and config.get("sensitive") is True
        )
        found.append(stack_outputs.Output(name=str(name), value=change.get("after"), sensitive=sensitive))
    return tuple(found)


def guarded(
    outputs: Iterable[stack_outputs.Output], redactor: redaction.Redactor
) -> tuple[stack_outputs.Output, ...]:
    """``outputs`` with every one that holds a known secret (or URL credential) sensitive."""
    return tuple(
        item
        if item.sensitive or _unchanged(item.value, redactor)
        else dataclasses.replace(item, sensitive=True)
        for item in outputs
    )


def secrets_of(outputs: Iterable[stack_outputs.Output]) -> list[str]:
    """String forms of every sensitive output's value (for the run's redactor)."""
    return [
        text for item in outputs if item.sensitive for text in redaction.sensitive_leaves(item.value, True)
    ]


def _unchanged(value: Any, redactor: redaction.Redactor) -> bool:
    """Whether no known secret is in ``value``: in its JSON text, nor in any of its leaves."""
    texts = [stack_outputs.canonical_json(value), *redaction.sensitive_leaves(value, True)]
    return all(redactor(text) == text for text in texts)


def _any_true(mask: Any) -> bool:
    """Whether a Terraform mask (``after_unknown``, ``after_sensitive``) marks anything."""
    pending = [mask]
    while pending:  # iterative: a deep value cannot exhaust the interpreter's stack
        item = pending.pop()
        if item is True:
            return True
        if isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
