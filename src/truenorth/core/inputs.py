"""Resolving a stack's ``inputs:`` from its upstream stacks' outputs: the rules, pure.

Both paths that run stacks (the controller's loop and the CLI's ``plan``/``apply``)
resolve inputs through :mod:`truenorth.controller.runs.resolving`, which reads the store
and asks :func:`resolve` here what each input is:

* the upstream stack was never applied (no applied revision, no outputs recorded):
  *unknown*, shown as "(known after STACK applies)";
* the upstream stack has a pending plan (stored, not applied yet) that changes that
  output: *unknown* too. A Terraform plan says which outputs it changes (its changes of
  resource type ``output``); the other engines do not, so any pending plan with changes
  makes all their outputs unknown;
* the upstream stack was applied but has no such output: an error naming the stack and
  the field (``stack app, inputs.db_host: stack database has no output "address" (its
  outputs: port, user)``);
* else the recorded value, sensitive or not, with its digest.

A resolution also says what each input rests on (:attr:`Resolution.basis`): the recorded
digest, or why it is unknown. The controller keeps the basis a stack was planned with
and plans the stack again when it changes (:func:`truenorth.core.impacts.input_moves`),
so a dependent is planned again exactly when an output it reads changes, or its
upstream's pending plan comes or goes. A controller that does not remember it (after a
restart, on a new owner) reads it back from the inputs its last plan recorded
(:func:`recorded_basis`): each known input's digest, and which inputs were not known
(why is not recorded: :func:`same_basis` then counts any unknown as the same).

Pure: recorded facts in, values and words out. Sensitive values are never here: the
store's records carry them sealed, and the caller unseals only the ones a resolution
names (:attr:`Resolution.sealed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from truenorth.core import outputs, plans

__all__ = [
    "UNKNOWN_BASIS",
    "InputError",
    "PendingPlan",
    "Recorded",
    "Resolution",
    "Upstream",
    "pending_plan",
    "recorded_basis",
    "resolve",
    "same_basis",
]

#: How many of an upstream's output names an error lists.
_MAX_NAMES = 20
#: The basis of a known input is this prefix and its digest.
_VALUE = "value "
#: The basis of an input a recorded plan did not know (the record does not say why).
UNKNOWN_BASIS = "not known"


class InputError(ValueError):
    """An input cannot be resolved (its output is missing); the message names stack and field."""


@dataclass(frozen=True)
class Recorded:
    """One output of an upstream stack as recorded: ``value`` is None when sensitive (sealed)."""

    name: str
    value: Any = field(default=None, repr=False)
    sensitive: bool = False
    #: The store's digest of the value (keyed for a sensitive one); empty: compute it.
    digest: str = ""

    @property
    def fingerprint(self) -> str:
        """The digest of the value (for a non-sensitive value without a recorded one, computed)."""
        if self.digest or self.sensitive:
            return self.digest
        return outputs.digest_of(self.value)


@dataclass(frozen=True)
class PendingPlan:
    """What an upstream stack's stored, unapplied plan changes of its outputs."""

    #: The outputs the plan changes (Terraform says which).
    outputs: frozenset[str] = frozenset()
    #: The plan does not say which outputs it changes (Ansible, Kubernetes): all of them.
    every_output: bool = False

    def changes(self, name: str) -> bool:
        """True when applying the plan may change output ``name``."""
        return self.every_output or name in self.outputs


def pending_plan(*, engine: str, changes: Iterable[plans.Change], has_changes: bool) -> PendingPlan | None:
    """What a stored, unapplied plan of an ``engine`` stack changes of its outputs (None: nothing)."""
    if not has_changes:
        return None
    if engine != "terraform":
        return PendingPlan(every_output=True)
    changed = frozenset(
        change.name or change.address.removeprefix("output.")
        for change in changes
        if change.resource_type == plans.OUTPUT_TYPE and change.action.is_change
    )
    return PendingPlan(outputs=changed) if changed else None


@dataclass(frozen=True)
class Upstream:
    """What is recorded of one upstream stack: whether it was applied, its outputs, its pending plan."""

    stack: str
    #: It has an applied revision or recorded outputs.
    applied: bool = False
    outputs: Mapping[str, Recorded] = field(default_factory=dict)
    pending: PendingPlan | None = None


@dataclass(frozen=True)
class Resolution:
    """A stack's inputs by name, and what each rests on.

    The value of a known *sensitive* input is None here: :attr:`sealed` names the records
    the caller unseals to fill it in.
    """

    inputs: Mapping[str, outputs.InputValue]
    #: Input name -> what its value rests on (the recorded digest, or why it is unknown).
    basis: Mapping[str, str]
    #: Input name -> the record of a known sensitive input, to unseal.
    sealed: Mapping[str, Recorded] = field(default_factory=dict)
    #: Inputs whose output is missing, each named with its stack and field.
    problems: tuple[str, ...] = ()

    def check(self) -> Resolution:
        """This resolution, or :class:`InputError` naming every input whose output is missing."""
        if self.problems:
            raise InputError("; ".join(self.problems))
        return self

    @property
    def waiting(self) -> tuple[outputs.InputValue, ...]:
        """The inputs not known yet, in name order."""
        return outputs.unknown_inputs(self.inputs)


def resolve(
    *,
    stack: str,
    refs: Sequence[outputs.InputRef],
    upstreams: Mapping[str, Upstream],
    ignore_pending: bool = False,
) -> Resolution:
    """Resolve ``stack``'s inputs ``refs`` from what is recorded of its ``upstreams``.

    ``ignore_pending``: use the applied values even where a pending plan changes them (a
    drift check compares the live system with what was applied). An input whose output
    is missing is left out and named in :attr:`Resolution.problems`
    (:meth:`Resolution.check` raises them).
    """
    found: dict[str, outputs.InputValue] = {}
    basis: dict[str, str] = {}
    sealed: dict[str, Recorded] = {}
    problems: list[str] = []
    for ref in sorted(refs, key=lambda item: item.name):
        upstream = upstreams.get(ref.stack) or Upstream(stack=ref.stack)
        record = upstream.outputs.get(ref.output)
        if not upstream.applied:
            found[ref.name] = outputs.InputValue(ref=ref, known=False)
            basis[ref.name] = "not applied"
            continue
        if not ignore_pending and upstream.pending is not None and upstream.pending.changes(ref.output):
            sensitive = record.sensitive if record is not None else False
            found[ref.name] = outputs.InputValue(ref=ref, sensitive=sensitive, known=False)
            basis[ref.name] = f"pending plan over {record.fingerprint if record is not None else 'nothing'}"
            continue
        if record is None:
            problems.append(_missing(stack, ref, upstream))
            basis[ref.name] = "missing"
            continue
        digest = record.fingerprint
        found[ref.name] = outputs.InputValue(
            ref=ref,
            value=None if record.sensitive else record.value,
            sensitive=record.sensitive,
            known=True,
            digest=digest,
        )
        basis[ref.name] = _VALUE + digest
        if record.sensitive:
            sealed[ref.name] = record
    return Resolution(inputs=found, basis=basis, sealed=sealed, problems=tuple(problems))


def _missing(stack: str, ref: outputs.InputRef, upstream: Upstream) -> str:
    names = sorted(upstream.outputs)
    shown = ", ".join(names[:_MAX_NAMES])
    if len(names) > _MAX_NAMES:
        shown += f", ... ({len(names) - _MAX_NAMES} more)"
    return (
        f'stack {stack}, inputs.{ref.name}: stack {ref.stack} has no output "{ref.output}" '
        f"(its outputs: {shown or 'none'})"
    )


def recorded_basis(refs: Sequence[outputs.InputRef], recorded: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """What each input in ``refs`` rested on when a plan recorded ``recorded``, its inputs as
    its run keeps them (:meth:`truenorth.core.outputs.InputValue.to_dict`: name, source,
    known, digest; never a value here).

    A known input rests on its digest, as in :attr:`Resolution.basis`; one the plan did not
    know on :data:`UNKNOWN_BASIS`. An input the record lacks, or recorded from another
    ``STACK.OUTPUT`` than ``refs`` names now, rests on nothing (left out): it moved.
    """
    by_name = {str(item.get("name", "")): item for item in recorded}
    found: dict[str, str] = {}
    for ref in refs:
        item = by_name.get(ref.name)
        if item is None or item.get("source") != ref.source:
            continue
        digest = item.get("digest")
        if not item.get("known", True):
            found[ref.name] = UNKNOWN_BASIS
        elif isinstance(digest, str) and digest:
            found[ref.name] = _VALUE + digest
    return found


def same_basis(now: str | None, then: str | None) -> bool:
    """Whether an input resting on ``now`` rests on what it rested on ``then`` (None: nothing).

    :data:`UNKNOWN_BASIS` (read back from a record) matches any basis of an input that is
    not known now: the plan would wait for it again either way.
    """
    if now is None or then is None:
        return now == then
    if then == UNKNOWN_BASIS:
        return not now.startswith(_VALUE)
    return now == then
