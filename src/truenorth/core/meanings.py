"""What a plan means, apart from where and when it was made: are two plans the same plan?

A plan approved on one controller replica may have to be applied by another, which
cannot use the first one's saved plan file (it is on the other replica's disk). The
replica that applies plans again and applies only if the new plan is *the same plan* as
the one approved (issue 14): the same changes (each change's address, action, and the
before/after or diff it shows, masked as shown), made at the same revision, with the
same inputs (their digests), and with the same hosts unreachable. Nothing that differs
from run to run without changing what an apply would do is part of it: timestamps, run
ids, paths, the saved plan file and its digest, the staleness fingerprint, engine
metadata (versions, sandbox, whether ``init`` ran), no-op and read entries.

A :class:`Meaning` is computed from a :class:`~truenorth.core.plans.Plan` or from the
pieces a run record keeps (its changes, its inputs), so a recorded plan of any age can
be compared with a fresh one. :func:`compare` says what differs, by address.

Masked values compare as their mask: a change in a sensitive value alone is not seen
(neither did the reviewer see it).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from truenorth import texts
from truenorth.core import outputs, plans

__all__ = ["ADDRESS_LIMIT", "SHOWN", "Difference", "Meaning", "compare", "of_parts", "of_plan"]

#: How many differing addresses :meth:`Difference.describe` names before "and N more".
SHOWN = 5
#: Characters of one address :meth:`Difference.describe` shows (addresses are engine output).
ADDRESS_LIMIT = 200


@dataclass(frozen=True)
class Meaning:
    """What a plan would do: its revision, input digests, unreachable hosts and changes.

    ``changes`` pairs each change's address with the digest of what it shows (sorted;
    an address may repeat). :attr:`digest` is one SHA-256 of it all.
    """

    revision: str
    inputs: tuple[tuple[str, str], ...] = ()
    unreachable_hosts: tuple[str, ...] = ()
    changes: tuple[tuple[str, str], ...] = ()

    @property
    def digest(self) -> str:
        """SHA-256 of the whole meaning: equal digests, the same plan."""
        return _digest(
            {
                "revision": self.revision,
                "inputs": [list(item) for item in self.inputs],
                "unreachable_hosts": list(self.unreachable_hosts),
                "changes": [list(item) for item in self.changes],
            }
        )


@dataclass(frozen=True)
class Difference:
    """How two meanings differ; nothing at all when :attr:`same`."""

    revision: bool = False
    #: Inputs added, removed or with another digest, by name.
    inputs: tuple[str, ...] = ()
    #: Hosts unreachable in one plan and not in the other.
    hosts: tuple[str, ...] = ()
    #: Addresses whose changes differ (in one plan only, or shown differently).
    changes: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        """True when the two plans are the same plan."""
        return not (self.revision or self.inputs or self.hosts or self.changes)

    def describe(self, *, limit: int = SHOWN) -> str:
        """Words for what differs: ``2 changes differ (a, b)``, inputs, hosts, revision."""
        parts = []
        if self.changes:
            count = len(self.changes)
            parts.append(
                f"{count} change{'' if count == 1 else 's'} "
                f"differ{'s' if count == 1 else ''} ({_named(self.changes, limit=limit)})"
            )
        if self.inputs:
            parts.append(f"input {_named(self.inputs, limit=limit)} changed")
        if self.hosts:
            parts.append(f"unreachable hosts differ ({_named(self.hosts, limit=limit)})")
        if self.revision:
            parts.append("the revision differs")
        return "; ".join(parts) if parts else "the same plan"


def of_plan(plan: plans.Plan) -> Meaning:
    """The meaning of ``plan``."""
    return of_parts(
        revision=plan.revision,
        changes=plan.changes,
        inputs=plan.inputs,
        unreachable_hosts=plan.unreachable_hosts,
    )


def of_parts(
    *,
    revision: str,
    changes: Iterable[plans.Change],
    inputs: Iterable[outputs.InputValue] = (),
    unreachable_hosts: Iterable[str] = (),
) -> Meaning:
    """The meaning of a plan from its pieces (as a run record keeps them)."""
    return Meaning(
        revision=revision,
        inputs=tuple(sorted((item.name, item.digest if item.known else "") for item in inputs)),
        unreachable_hosts=tuple(sorted(set(unreachable_hosts))),
        changes=tuple(
            sorted((item.address, _change_digest(item)) for item in changes if item.action.is_change)
        ),
    )


def compare(approved: Meaning, fresh: Meaning) -> Difference:
    """What differs between the ``approved`` plan and a ``fresh`` one (addresses sorted)."""
    before, after = Counter(approved.changes), Counter(fresh.changes)
    moved = {address for address, _ in (before - after) + (after - before)}
    old_inputs, new_inputs = dict(approved.inputs), dict(fresh.inputs)
    inputs = {
        name for name in set(old_inputs) | set(new_inputs) if old_inputs.get(name) != new_inputs.get(name)
    }
    hosts = set(approved.unreachable_hosts) ^ set(fresh.unreachable_hosts)
    return Difference(
        revision=approved.revision != fresh.revision,
        inputs=tuple(sorted(inputs)),
        hosts=tuple(sorted(hosts)),
        changes=tuple(sorted(moved)),
    )


def _change_digest(change: plans.Change) -> str:
    return _digest(
        {
            "action": change.action.value,
            "resource_type": change.resource_type,
            "host": change.host,
            "task": change.task,
            "before": _plain(change.before),
            "after": _plain(change.after),
            "diff": change.diff,
        }
    )


def _plain(value: Any) -> Any:
    """``value`` as JSON keeps it: tuples as lists, whole floats as integers (a stored copy
    of a plan may come back either way)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _named(items: tuple[str, ...], *, limit: int) -> str:
    shown = ", ".join(
        texts.escape_controls(texts.bound(item, ADDRESS_LIMIT), keep_newlines=False) for item in items[:limit]
    )
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
