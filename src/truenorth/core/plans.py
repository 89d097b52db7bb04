"""What an engine says a change would do, in one shape for every engine.

A :class:`Plan` is the normalized, already-redacted result of ``terraform plan``,
``ansible-playbook --check --diff`` or a Kubernetes diff. Everything downstream (the
store, the CLI, the API, merge-request comments) reads plans, never raw engine output,
so a secret that is masked here is masked everywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from truenorth.core import outputs as stack_outputs
from truenorth.core import states

__all__ = ["OUTPUT_TYPE", "PARTIAL", "Action", "Change", "Plan", "PlanSummary", "summarize"]

#: ``Change.resource_type`` of a changed Terraform output (``output.<name>``).
OUTPUT_TYPE = "output"
#: ``Plan.meta`` key: true when the engine could not check everything (an Ansible host
#: failed a task or was unreachable): the plan shows what was checked, not all.
PARTIAL = "partial"


class Action(enum.StrEnum):
    """What happens to one resource, host task or object."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    READ = "read"
    NOOP = "no-op"
    #: The engine cannot predict the outcome (Ansible check mode skipped the task).
    UNKNOWN = "unknown"

    @property
    def is_change(self) -> bool:
        """True for actions that alter the target system (or may: ``unknown``)."""
        return self not in (Action.NOOP, Action.READ)


@dataclass(frozen=True)
class Change:
    """One planned change to one addressable thing.

    ``before`` and ``after`` are JSON-compatible values with every secret already replaced
    by :data:`truenorth.core.redaction.SENSITIVE_MARKER`. ``diff`` is an optional readable,
    redacted text diff (Ansible's and Kubernetes' before/after text). ``host`` and ``task``
    are set by engines that act per host (Ansible).
    """

    address: str
    action: Action
    resource_type: str = ""
    name: str = ""
    before: Any = None
    after: Any = None
    diff: str = ""
    host: str | None = None
    task: str | None = None
    #: Free-form reason ("check mode skipped this task", "forces replacement").
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form of the change (documented in ``docs/output-json.md``)."""
        return {
            "address": self.address,
            "action": self.action.value,
            "resource_type": self.resource_type,
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "diff": self.diff,
            "host": self.host,
            "task": self.task,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """Rebuild a change from :meth:`to_dict` output (as stored)."""
        return cls(
            address=str(data["address"]),
            action=Action(data["action"]),
            resource_type=str(data.get("resource_type", "")),
            name=str(data.get("name", "")),
            before=data.get("before"),
            after=data.get("after"),
            diff=str(data.get("diff", "")),
            host=data.get("host"),
            task=data.get("task"),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True)
class PlanSummary:
    """Counts in Terraform's words: replace counts as one add and one destroy.

    ``unknown`` counts changes the engine could not predict; ``outputs`` counts changed
    Terraform outputs (``resource_type == "output"``), which Terraform also leaves out of
    its "N to add" line but which still make a plan non-empty; ``hosts_*`` are filled by
    per-host engines (Ansible) and stay zero elsewhere.
    """

    add: int = 0
    change: int = 0
    destroy: int = 0
    read: int = 0
    unknown: int = 0
    outputs: int = 0
    hosts_changed: int = 0
    hosts_unknown: int = 0
    hosts_unreachable: int = 0

    @property
    def has_changes(self) -> bool:
        """True when applying would (or might) alter anything."""
        return bool(
            self.add or self.change or self.destroy or self.unknown or self.outputs or self.hosts_unreachable
        )

    @property
    def has_definite_changes(self) -> bool:
        """True when the engine predicts a change for sure (unknowns and unreachable hosts aside).

        Drift is judged on this: a task check mode can never predict (``command``) must not
        report drift, and self-heal, on every check.
        """
        return bool(self.add or self.change or self.destroy or self.outputs)

    def headline(self) -> str:
        """``N to add, N to change, N to destroy`` plus the non-zero extras."""
        text = f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"
        extras = []
        if self.unknown:
            extras.append(f"{self.unknown} unknown")
        if self.outputs:
            extras.append(f"{self.outputs} output(s) changed")
        if self.hosts_changed or self.hosts_unknown or self.hosts_unreachable:
            extras.append(
                f"hosts: {self.hosts_changed} changed, {self.hosts_unknown} unknown, "
                f"{self.hosts_unreachable} unreachable"
            )
        return text + (f" ({'; '.join(extras)})" if extras else "")

    def to_dict(self) -> dict[str, int]:
        """Stable JSON form."""
        return {
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "read": self.read,
            "unknown": self.unknown,
            "outputs": self.outputs,
            "hosts_changed": self.hosts_changed,
            "hosts_unknown": self.hosts_unknown,
            "hosts_unreachable": self.hosts_unreachable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanSummary:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{key: int(data.get(key, 0)) for key in cls().to_dict()})


def summarize(
    changes: Iterable[Change],
    *,
    hosts_unreachable: Iterable[str] = (),
) -> PlanSummary:
    """Count ``changes`` the way Terraform does, and per host when hosts are set."""
    add = change = destroy = read = unknown = outputs = 0
    changed_hosts: set[str] = set()
    unknown_hosts: set[str] = set()
    for item in changes:
        if item.resource_type == OUTPUT_TYPE:
            outputs += item.action.is_change
            continue
        if item.action is Action.CREATE:
            add += 1
        elif item.action is Action.UPDATE:
            change += 1
        elif item.action is Action.DELETE:
            destroy += 1
        elif item.action is Action.REPLACE:
            add += 1
            destroy += 1
        elif item.action is Action.READ:
            read += 1
        elif item.action is Action.UNKNOWN:
            unknown += 1
        if item.host is not None:
            if item.action is Action.UNKNOWN:
                unknown_hosts.add(item.host)
            elif item.action.is_change:
                changed_hosts.add(item.host)
    unreachable = set(hosts_unreachable)
    return PlanSummary(
        add=add,
        change=change,
        destroy=destroy,
        read=read,
        unknown=unknown,
        outputs=outputs,
        hosts_changed=len(changed_hosts - unreachable),
        hosts_unknown=len(unknown_hosts - changed_hosts - unreachable),
        hosts_unreachable=len(unreachable),
    )


@dataclass(frozen=True)
class Plan:
    """A normalized, redacted plan for one stack at one revision.

    ``artifact`` is the engine's own saved plan (a Terraform plan file) when it has one;
    it lives in the stack's private state directory and is never shown. ``fingerprint``
    identifies the inputs the plan was made from (revision, state), so that an apply can
    refuse a stale plan. ``output`` is the redacted human-readable engine output.
    """

    stack: str
    engine: str
    revision: str
    changes: tuple[Change, ...]
    summary: PlanSummary
    output: str = ""
    artifact: str | None = None
    fingerprint: str = ""
    #: Hosts the engine could not reach while planning (Ansible).
    unreachable_hosts: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: The live system's health as the engine saw it while planning (None: it does not say).
    health: states.Health | None = None
    #: The inputs the plan was made with, and where each came from (``inputs:``).
    inputs: tuple[stack_outputs.InputValue, ...] = ()
    #: The outputs as the plan expects them after apply (Terraform's planned output
    #: values; unknown ones absent), so dependents can be previewed with them.
    planned_outputs: tuple[stack_outputs.Output, ...] = ()

    @property
    def waiting_for(self) -> tuple[stack_outputs.InputValue, ...]:
        """Inputs not known yet: such a plan can be shown but never applied."""
        return tuple(item for item in self.inputs if not item.known)

    @property
    def has_changes(self) -> bool:
        """True when applying the plan would (or might) alter anything."""
        return self.summary.has_changes

    @property
    def partial(self) -> bool:
        """True when the engine checked only part of the stack (:data:`PARTIAL`)."""
        return self.meta.get(PARTIAL) is True

    @property
    def has_drift(self) -> bool:
        """For a drift check: the live state differs for sure from the deployed revision."""
        return self.summary.has_definite_changes

    @property
    def changed(self) -> tuple[Change, ...]:
        """Only the entries that alter something (everything but no-op and read)."""
        return tuple(item for item in self.changes if item.action.is_change)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form, without the private artifact path."""
        return {
            "stack": self.stack,
            "engine": self.engine,
            "revision": self.revision,
            "has_changes": self.has_changes,
            "summary": self.summary.to_dict(),
            "changes": [item.to_dict() for item in self.changes],
            "unreachable_hosts": list(self.unreachable_hosts),
            "inputs": [item.to_dict() for item in self.inputs],
        }
