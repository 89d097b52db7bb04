"""Which stacks a merge request affects: planned, planned after an upstream, or left alone.

A preview compares a merge request's head with the point where it left its target
branch (the merge base), never with the target's tip: what others merged meanwhile is
not this merge request's doing. The rules are the reconcile loop's
(:func:`truenorth.core.impacts.impacted_stacks`: a new stack, a changed spec entry, a
changed path it reads), plus every stack downstream of an affected one, through
``depends_on`` or ``inputs:`` (transitively): such a stack is planned "after X applies",
with X's planned outputs where its plan knows them. Every other stack is listed as not
planned, with the reason. Pure: specs and paths in, a :class:`Selection` out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from truenorth.core import impacts, specs

__all__ = ["UNCHANGED", "Selection", "select"]

UNCHANGED = "unchanged: nothing it reads changed in this merge request"


@dataclass(frozen=True)
class Selection:
    """The stacks to plan (dependency order), why, and the ones left alone."""

    #: (stack, reasons), in dependency order.
    planned: tuple[tuple[str, tuple[str, ...]], ...]
    #: stack -> the planned stacks it depends on (it is planned after they apply).
    after: dict[str, tuple[str, ...]]
    #: (stack, why not planned), in declaration order.
    skipped: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.planned)


def select(
    *, base: specs.RepoSpec | None, head: specs.RepoSpec, changed_paths: Collection[str] | None
) -> Selection:
    """The stacks of ``head`` that ``changed_paths`` (merge base to head) affect.

    ``base`` is the merge base's spec (None: it had none, or an invalid one: every stack
    is new); ``changed_paths`` None means unknown (every stack is planned).
    """
    direct = {
        impact.stack: impact.reasons
        for impact in impacts.impacted_stacks(
            old=base, new=head, changed_paths=changed_paths, applied={}, planned_with={}
        )
    }
    planned: list[tuple[str, tuple[str, ...]]] = []
    after: dict[str, tuple[str, ...]] = {}
    chosen: set[str] = set()
    for stack in head.order():
        upstream = tuple(dep for dep in stack.depends_on if dep in chosen)
        reasons = list(direct.get(stack.name, ()))
        if upstream:
            after[stack.name] = upstream
            reasons.append(f"downstream of {', '.join(upstream)}")
        if reasons:
            planned.append((stack.name, tuple(reasons)))
            chosen.add(stack.name)
    skipped = [(stack.name, UNCHANGED) for stack in head.stacks if stack.name not in chosen]
    if base is not None:
        skipped += [
            (stack.name, "removed from truenorth.yaml (its resources are not destroyed)")
            for stack in base.stacks
            if stack.name not in head.names
        ]
    return Selection(planned=tuple(planned), after=after, skipped=tuple(skipped))
