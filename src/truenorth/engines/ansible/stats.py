"""A playbook's ``set_stats`` data, read as the stack's outputs.

``set_stats`` is the Ansible way to hand data out of a run: its aggregate (``per_host:
false``, the default) data reaches ansible-runner's ``playbook_on_stats`` event as
``event_data.artifact_data``. After a successful real run that data is the stack's
outputs, one :class:`~truenorth.core.outputs.Output` per key; an ``outputs:`` entry
in ``truenorth.yaml`` marks one ``sensitive`` (per-host data is not an output).

A sensitive output's value is known only when the playbook produces it, so the
run's raw events are read here *before* they are redacted: :func:`secret_texts` gives
the text forms of the sensitive values an event carries (the ``set_stats`` task's own
result, the final ``playbook_on_stats`` event), which the run's redactor then masks
in that event and everything after it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from truenorth.core import outputs, specs

__all__ = ["MAX_OUTPUTS_BYTES", "OutputsTooLargeError", "read_outputs", "run_stats", "secret_texts"]

#: The most ``set_stats`` data (as canonical JSON) a run may hand out as outputs.
MAX_OUTPUTS_BYTES = 1 << 20


class OutputsTooLargeError(ValueError):
    """The ``set_stats`` data is larger than :data:`MAX_OUTPUTS_BYTES`."""


def run_stats(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The run's aggregate ``set_stats`` data if ``event`` is ``playbook_on_stats``; else None."""
    if event.get("event") != "playbook_on_stats":
        return None
    data = event.get("event_data")
    found = data.get("artifact_data") if isinstance(data, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def secret_texts(event: Mapping[str, Any], sensitive: frozenset[str]) -> tuple[str, ...]:
    """Every text form of a ``sensitive`` output's value that the raw ``event`` carries."""
    if not sensitive:
        return ()
    found: list[str] = []
    for data in _stats_data(event):
        for name in sensitive & {str(key) for key in data}:
            found.extend(outputs.texts_of(data[name]))
    return tuple(dict.fromkeys(text for text in found if text))


def read_outputs(data: Mapping[str, Any], declared: Iterable[specs.OutputSpec]) -> tuple[outputs.Output, ...]:
    """The outputs of a run's ``set_stats`` data, by name; ``declared`` says which are sensitive.

    Raises :class:`OutputsTooLargeError` past :data:`MAX_OUTPUTS_BYTES`.
    """
    size = len(outputs.canonical_json(dict(data)).encode("utf-8"))
    if size > MAX_OUTPUTS_BYTES:
        raise OutputsTooLargeError(
            f"the playbook's set_stats data is {size} bytes, more than the {MAX_OUTPUTS_BYTES} "
            "bytes truenorth records as outputs"
        )
    sensitive = {item.name for item in declared if item.sensitive}
    return tuple(
        outputs.Output(name=str(name), value=data[name], sensitive=str(name) in sensitive)
        for name in sorted(data, key=str)
    )


def _stats_data(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``set_stats`` data in one event: a task result's (and its loop items'), or the run's."""
    total = run_stats(event)
    if total is not None:
        return [total]
    event_data = event.get("event_data")
    res = event_data.get("res") if isinstance(event_data, Mapping) else None
    if not isinstance(res, Mapping):
        return []
    results = res.get("results")
    found: list[Mapping[str, Any]] = []
    for item in [res, *(results if isinstance(results, list) else [])]:
        stats = item.get("ansible_stats") if isinstance(item, Mapping) else None
        data = stats.get("data") if isinstance(stats, Mapping) else None
        if isinstance(data, Mapping):
            found.append(data)
    return found
