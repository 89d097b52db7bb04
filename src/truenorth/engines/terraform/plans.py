"""Reading ``terraform show -json PLANFILE`` into truenorth's engine-neutral changes.

Terraform's JSON plan (format 1.x) holds every sensitive value in clear text next to a
mask saying which parts are sensitive. This module turns one such document into
:class:`~truenorth.core.plans.Change` values with the masks applied
(:data:`~truenorth.core.redaction.SENSITIVE_MARKER`) and unknown values shown as
:data:`UNKNOWN_MARKER`, and it collects every sensitive leaf value so that the caller can
register them with its :class:`~truenorth.core.redaction.Redactor` before any text leaves
the engine. The raw document is never kept: callers drop it once read.

Changed root outputs are changes too (address ``output.<name>``, resource type
``output``): an output that changes must be applied, because other stacks read it with
``terraform_remote_state``. So a plan that only changes outputs has changes, and the
summary counts output changes like resource changes.

The reading also keeps which root-module variables are declared and which of them are
sensitive (from ``configuration``: the inputs are checked against it), and the planned
output values (:func:`.outputs.planned`, sensitive ones only in memory). The document's
``variables`` block, which holds every variable's value in clear text, is only mined for
the sensitive ones' values (secrets to mask), never kept.

Pure: a dict in, frozen values out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from truenorth.core import outputs as stack_outputs
from truenorth.core import plans, redaction
from truenorth.engines.terraform import outputs as tf_outputs

__all__ = [
    "UNKNOWN_MARKER",
    "PlanReading",
    "action_of",
    "read_plan",
    "redact_change",
    "remote_state_paths",
    "sensitive_values",
]

#: What a value Terraform only learns during apply reads as (Terraform's own words).
UNKNOWN_MARKER = "(known after apply)"

_ACTIONS: dict[tuple[str, ...], plans.Action] = {
    ("no-op",): plans.Action.NOOP,
    ("create",): plans.Action.CREATE,
    ("read",): plans.Action.READ,
    ("update",): plans.Action.UPDATE,
    ("delete", "create"): plans.Action.REPLACE,
    ("create", "delete"): plans.Action.REPLACE,
    ("delete",): plans.Action.DELETE,
    # ``removed { lifecycle { destroy = false } }``: dropped from state, object kept.
    ("forget",): plans.Action.DELETE,
}

_REASONS = {
    "replace_because_cannot_update": "forces replacement",
    "replace_because_tainted": "tainted, so must be replaced",
    "replace_by_request": "replacement requested (-replace)",
    "replace_by_triggers": "replace_triggered_by changed",
    "delete_because_no_resource_config": "no longer in the configuration",
    "delete_because_no_module": "its module is no longer in the configuration",
    "delete_because_wrong_repetition": "count/for_each changed how it repeats",
    "delete_because_count_index": "its count index is out of range",
    "delete_because_each_key": "its for_each key is gone",
    "read_because_config_unknown": "read during apply: its configuration is known only then",
    "read_because_dependency_pending": "read during apply: a dependency has pending changes",
    "read_because_check_nested": "read during apply: used by a check block",
}


@dataclass(frozen=True)
class PlanReading:
    """The changes of one JSON plan, masked, and the secrets it held.

    ``secrets`` is kept out of ``repr`` so that a traceback cannot print it.
    """

    changes: tuple[plans.Change, ...]
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    #: Addresses Terraform found changed outside Terraform (``resource_drift``).
    drifted: tuple[str, ...] = ()
    terraform_version: str = ""
    #: Each root-module variable as Terraform loaded it -> whether it is ``sensitive``.
    variables: Mapping[str, bool] = field(default_factory=dict)
    #: The root outputs whose value after apply is known (:func:`.outputs.planned`).
    planned_outputs: tuple[stack_outputs.Output, ...] = ()


def action_of(actions: Sequence[str]) -> plans.Action:
    """Map Terraform's ``change.actions`` list to an :class:`~truenorth.core.plans.Action`.

    An action list this version does not know maps to ``UNKNOWN`` (counts as a change).
    """
    return _ACTIONS.get(tuple(actions), plans.Action.UNKNOWN)


def read_plan(document: Mapping[str, Any]) -> PlanReading:
    """Read a ``terraform show -json`` plan into masked changes plus its secrets.

    Sensitive values are replaced by :data:`~truenorth.core.redaction.SENSITIVE_MARKER`
    where Terraform marks them, and by :data:`~truenorth.core.redaction.REDACTED` where
    the same value turns up unmarked.
    """
    changes = [_resource_change(item) for item in _dicts(document.get("resource_changes"))]
    outputs = document.get("output_changes")
    if isinstance(outputs, Mapping):
        for name in sorted(outputs):
            change = _output_change(str(name), outputs[name])
            if change is not None:
                changes.append(change)
    secrets = sensitive_values(document)
    # Masks alone are not enough: a provider may copy a sensitive input into an attribute
    # it does not mark (terraform_data's ``output`` does), so known secrets are masked
    # wherever they appear as text too.
    own = redaction.Redactor(secrets)
    drifted = tuple(
        str(item.get("address", ""))
        for item in _dicts(document.get("resource_drift"))
        if action_of(_actions(item)) is not plans.Action.NOOP
    )
    return PlanReading(
        changes=tuple(redact_change(item, own) for item in changes),
        secrets=secrets,
        drifted=drifted,
        terraform_version=str(document.get("terraform_version", "")),
        variables=_declared_variables(document),
        planned_outputs=tf_outputs.planned(document),
    )


def redact_change(change: plans.Change, redactor: redaction.Redactor) -> plans.Change:
    """``change`` with every known secret masked in its values and texts as well.

    The structural masks catch what Terraform marks sensitive; this catches the same
    secret turning up unmarked elsewhere (a value read from another stack's state).
    """
    return dataclasses.replace(
        change,
        address=redactor(change.address),
        name=redactor(change.name),
        before=redactor.value(change.before),
        after=redactor.value(change.after),
        diff=redactor(change.diff),
        reason=redactor(change.reason),
    )


def sensitive_values(document: Mapping[str, Any]) -> frozenset[str]:
    """Every value ``document`` marks sensitive, as strings (for a Redactor)."""
    found: list[str] = []
    for item in [*_dicts(document.get("resource_changes")), *_dicts(document.get("resource_drift"))]:
        change = item.get("change")
        if isinstance(change, Mapping):
            found.extend(redaction.sensitive_leaves(change.get("before"), change.get("before_sensitive")))
            found.extend(redaction.sensitive_leaves(change.get("after"), change.get("after_sensitive")))
    outputs = document.get("output_changes")
    if isinstance(outputs, Mapping):
        for change in outputs.values():
            if isinstance(change, Mapping):
                found.extend(redaction.sensitive_leaves(change.get("before"), change.get("before_sensitive")))
                found.extend(redaction.sensitive_leaves(change.get("after"), change.get("after_sensitive")))
    for values in _state_values(document):
        found.extend(_sensitive_in_values(values))
    configured = _dig(document, "configuration", "root_module", "variables")
    variables = document.get("variables")
    if isinstance(configured, Mapping) and isinstance(variables, Mapping):
        for name, declared in configured.items():
            if isinstance(declared, Mapping) and declared.get("sensitive") is True:
                entry = variables.get(name)
                if isinstance(entry, Mapping):
                    found.extend(redaction.sensitive_leaves(entry.get("value"), True))
    return frozenset(found)


def remote_state_paths(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``config.path`` of every ``terraform_remote_state`` read with the local backend.

    Terraform drops the sensitivity of outputs read through remote state, so the caller
    reads those state files' sensitive outputs itself. Paths are as configured (relative
    ones are relative to the stack's working directory).
    """
    paths: list[str] = []
    for values in _state_values(document):
        for resource in _resources(values.get("root_module")):
            if resource.get("mode") != "data" or resource.get("type") != "terraform_remote_state":
                continue
            attrs = resource.get("values")
            if not isinstance(attrs, Mapping) or attrs.get("backend") != "local":
                continue
            path = _dig(attrs, "config", "path")
            if isinstance(path, str) and path and path not in paths:
                paths.append(path)
    return tuple(paths)


# --------------------------------------------------------------------------- helpers


def _resource_change(item: Mapping[str, Any]) -> plans.Change:
    change = item.get("change")
    change = change if isinstance(change, Mapping) else {}
    actions = _actions(item)
    action = action_of(actions)
    reasons = []
    if action is plans.Action.UNKNOWN:
        reasons.append(f"unrecognised Terraform actions {list(actions)!r}")
    if tuple(actions) == ("forget",):
        reasons.append("removed from the state only; the real object is kept")
    if change.get("importing") is not None and action is plans.Action.NOOP:
        action = plans.Action.UPDATE
        reasons.append("imported into the state")
    if item.get("deposed"):
        reasons.append("deposed object")
    reason = item.get("action_reason")
    if isinstance(reason, str) and reason:
        reasons.append(_REASONS.get(reason, reason.replace("_", " ")))
    replace_paths = change.get("replace_paths")
    if action is plans.Action.REPLACE and isinstance(replace_paths, list) and replace_paths:
        reasons.append("changed: " + ", ".join(_path_text(path) for path in replace_paths))
    return plans.Change(
        address=str(item.get("address", "")),
        action=action,
        resource_type=str(item.get("type", "")),
        name=str(item.get("name", "")),
        before=redaction.mask_sensitive(change.get("before"), change.get("before_sensitive")),
        after=_shown_after(change),
        reason="; ".join(reasons),
    )


def _output_change(name: str, change: Any) -> plans.Change | None:
    if not isinstance(change, Mapping):
        return None
    action = action_of([str(a) for a in change.get("actions", ()) if isinstance(a, str)])
    if action is plans.Action.NOOP:
        return None
    return plans.Change(
        address=f"output.{name}",
        action=action,
        resource_type="output",
        name=name,
        before=redaction.mask_sensitive(change.get("before"), change.get("before_sensitive")),
        after=_shown_after(change),
    )


def _shown_after(change: Mapping[str, Any]) -> Any:
    """``after`` with unknown parts filled in as :data:`UNKNOWN_MARKER`, then masked."""
    after = _fill_unknown(change.get("after"), change.get("after_unknown"))
    return redaction.mask_sensitive(after, change.get("after_sensitive"))


def _fill_unknown(value: Any, unknown: Any) -> Any:
    if unknown is True:
        return UNKNOWN_MARKER
    if isinstance(unknown, Mapping):
        base = dict(value) if isinstance(value, Mapping) else {}
        for key, mask in unknown.items():
            base[key] = _fill_unknown(base.get(key), mask)
        return base if (base or isinstance(value, Mapping)) else value
    if isinstance(unknown, list) and isinstance(value, list):
        return [
            _fill_unknown(item, unknown[index] if index < len(unknown) else False)
            for index, item in enumerate(value)
        ]
    return value


def _declared_variables(document: Mapping[str, Any]) -> dict[str, bool]:
    """Root-module variable name -> ``sensitive``, from the plan's configuration."""
    configured = _dig(document, "configuration", "root_module", "variables")
    if not isinstance(configured, Mapping):
        return {}
    return {
        str(name): isinstance(declared, Mapping) and declared.get("sensitive") is True
        for name, declared in configured.items()
    }


def _state_values(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """``planned_values`` and ``prior_state.values``: outputs and resources with masks."""
    for values in (document.get("planned_values"), _dig(document, "prior_state", "values")):
        if isinstance(values, Mapping):
            yield values


def _sensitive_in_values(values: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    outputs = values.get("outputs")
    if isinstance(outputs, Mapping):
        for output in outputs.values():
            if isinstance(output, Mapping) and output.get("sensitive") is True:
                found.extend(redaction.sensitive_leaves(output.get("value"), True))
    for resource in _resources(values.get("root_module")):
        found.extend(redaction.sensitive_leaves(resource.get("values"), resource.get("sensitive_values")))
    return found


def _resources(module: Any) -> Iterator[Mapping[str, Any]]:
    """Resources of a module and, recursively, of its child modules."""
    if not isinstance(module, Mapping):
        return
    yield from _dicts(module.get("resources"))
    for child in _dicts(module.get("child_modules")):
        yield from _resources(child)


def _actions(item: Mapping[str, Any]) -> tuple[str, ...]:
    change = item.get("change")
    raw = change.get("actions") if isinstance(change, Mapping) else None
    return tuple(str(a) for a in raw) if isinstance(raw, list) else ()


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _path_text(path: Any) -> str:
    if isinstance(path, list):
        return ".".join(str(step) for step in path)
    return str(path)
