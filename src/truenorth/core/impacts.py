"""Which stacks a new revision touches: the change-impact rules of the reconcile loop.

A new commit must plan only the stacks whose inputs changed, like Atlantis's autoplan
and unlike a full refresh of everything. A stack is impacted when:

- it is new (not in the old spec, or there is no old spec: the first revision seen);
- its spec entry changed (``StackSpec.source``: engine, path, vars, depends_on, ...);
- a path it reads changed (its folder, its Terraform var files: ``input_paths()``);
- a dependency it names in ``depends_on`` was applied at another revision than the one it
  had when this stack was last planned (its plan may have read the old state);
- an output it reads (``inputs:``) changed since its last plan (:func:`input_moves`): a
  stack that only reads outputs of another (an input-only dependency) is planned again
  when those outputs change, not whenever that stack is applied. What its last plan read
  is remembered, or read back from that plan's record after a restart or on a new owner.

Pure: specs, paths and revisions in, :class:`Impact` values out, in dependency order.
``changed_paths=None`` means "unknown" (the old revision is gone): every stack is
impacted then.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from truenorth.core import inputs, specs

__all__ = ["Impact", "dependency_moves", "explicit_dependencies", "impacted_stacks", "input_moves", "touches"]

NEW = "new stack"
SPEC_CHANGED = "spec entry changed"
UNKNOWN_CHANGES = "changes since the last plan are unknown"


@dataclass(frozen=True)
class Impact:
    """A stack that must be planned, and why (words for logs and the API)."""

    stack: str
    reasons: tuple[str, ...]


def touches(changed: str, input_path: str) -> bool:
    """True when the changed repository path ``changed`` is ``input_path`` or inside it."""
    base = posixpath.normpath(input_path)
    if base in ("", "."):
        return True
    path = posixpath.normpath(changed)
    return path == base or path.startswith(base + "/")


def explicit_dependencies(stack: specs.StackSpec) -> tuple[str, ...]:
    """The stacks ``stack`` names in ``depends_on`` itself (not only implied by its ``inputs:``)."""
    return stack.explicit_depends_on


def dependency_moves(
    stack: specs.StackSpec,
    *,
    applied: Mapping[str, str | None],
    planned_with: Mapping[str, str | None] | None,
) -> tuple[str, ...]:
    """Explicit dependencies of ``stack`` whose applied revision changed since it was last planned.

    ``applied`` holds each stack's applied revision now; ``planned_with`` the
    dependencies' applied revisions when ``stack`` was last planned (None: not known,
    which reports nothing: an unknown past is handled by ``changed_paths=None``). A
    dependency implied only by ``inputs:`` is not one: :func:`input_moves` says when
    what ``stack`` reads of it changed.
    """
    if planned_with is None:
        return ()
    return tuple(dep for dep in explicit_dependencies(stack) if applied.get(dep) != planned_with.get(dep))


def input_moves(
    stack: specs.StackSpec, *, basis: Mapping[str, str], planned_basis: Mapping[str, str] | None
) -> tuple[str, ...]:
    """Why ``stack`` must be planned again for its inputs: ``input db_host changed (network.address)``.

    ``basis`` is what each input rests on now, ``planned_basis`` what it rested on when
    ``stack`` was last planned (:attr:`truenorth.core.inputs.Resolution.basis`, or as its
    recorded plan says: :func:`truenorth.core.inputs.recorded_basis`; None: not known,
    which reports nothing).
    """
    if planned_basis is None:
        return ()
    return tuple(
        f"input {ref.name} changed ({ref.source})"
        for ref in stack.inputs
        if not inputs.same_basis(basis.get(ref.name), planned_basis.get(ref.name))
    )


def impacted_stacks(
    *,
    old: specs.RepoSpec | None,
    new: specs.RepoSpec,
    changed_paths: Collection[str] | None,
    applied: Mapping[str, str | None],
    planned_with: Mapping[str, Mapping[str, str | None]],
) -> tuple[Impact, ...]:
    """Every stack of ``new`` that must be planned, in dependency order, with its reasons.

    ``old`` is the spec of the revision last planned (None: none yet), ``changed_paths``
    the paths that differ between that revision and the new one, ``applied`` each
    stack's applied revision, ``planned_with`` per stack the dependencies' applied
    revisions at its last plan.
    """
    previous = {stack.name: stack for stack in old.stacks} if old is not None else {}
    found: list[Impact] = []
    for stack in new.order():
        reasons: list[str] = []
        before = previous.get(stack.name)
        if before is None:
            reasons.append(NEW)
        elif dict(before.source) != dict(stack.source):
            reasons.append(SPEC_CHANGED)
        if changed_paths is None:
            if before is not None:
                reasons.append(UNKNOWN_CHANGES)
        else:
            for input_path in stack.input_paths():
                if any(touches(path, input_path) for path in changed_paths):
                    reasons.append(f"{input_path} changed")
        moved = dependency_moves(stack, applied=applied, planned_with=planned_with.get(stack.name))
        reasons.extend(f"dependency {dep} was applied at another revision" for dep in moved)
        if reasons:
            found.append(Impact(stack=stack.name, reasons=tuple(reasons)))
    return tuple(found)
