"""Comparing one desired object with its live counterpart: create, update, delete or no-op.

Like gitops-engine's ``Diff(config, live)``: pure, given the manifest as truenorth will
apply it, the live object (or None), optionally the server's dry-run prediction of the
result, and the declared differences to ignore. Both sides are normalized, cut down to
the fields the manifest sets or truenorth owned last time (so server defaults and other
managers' fields never show), stripped of ignored JSON pointers, and compared. The
readable diff is a unified diff of the two sides as YAML, with Secret values masked
(a changed secret value shows as changed, never its content).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from truenorth.core import plans, specs
from truenorth.engines.kubernetes import fieldsets, masking, normalizing, objects

__all__ = ["FIELD_MANAGER", "ObjectDiff", "compare", "drop_pointer", "ignored_pointers", "yaml_diff"]

FIELD_MANAGER = objects.FIELD_MANAGER
# libyaml's dumper when PyYAML has it (ten times faster; the same YAML), else Python's.
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class ObjectDiff:
    """The outcome for one object. ``before``/``after`` are normalized and masked."""

    ref: objects.ObjectRef
    action: plans.Action
    diff: str
    before: Any
    after: Any


def compare(
    desired: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None,
    *,
    predicted: Mapping[str, Any] | None = None,
    ignore: Sequence[specs.IgnoreDifference] = (),
    manager: str = FIELD_MANAGER,
) -> ObjectDiff:
    """Compare ``desired`` (None: a prune candidate) with ``live`` (None: missing)."""
    source = desired if desired is not None else live
    if source is None:
        raise ValueError("compare needs a desired or a live object")
    ref = objects.ObjectRef.of(source)
    # Each object is normalized once; the normalized copies are this call's own, so
    # cutting, dropping pointers and masking work on them without copying again.
    if desired is None:
        assert live is not None
        _, shown = _masked(None, normalizing.normalize(live))
        return ObjectDiff(ref, plans.Action.DELETE, yaml_diff(shown, None, ref=ref), before=shown, after=None)
    want_full = normalizing.normalize(desired)
    if live is None:
        _, shown = _masked(None, want_full)
        return ObjectDiff(ref, plans.Action.CREATE, yaml_diff(None, shown, ref=ref), before=None, after=shown)
    fields = fieldsets.union(fieldsets.fields_of(want_full), fieldsets.owned_by(live, manager))
    after = normalizing.normalize(predicted) if predicted is not None else want_full
    want = fieldsets.restrict(after, fields)
    have = fieldsets.restrict(normalizing.normalize(live), fields)
    pointers = ignored_pointers(ref, ignore)
    if pointers and want is want_full:
        want = normalizing.normalize(desired)  # pointers are dropped in place: not from want_full
    for pointer in pointers:
        drop_pointer(want, pointer)
        drop_pointer(have, pointer)
    shown_want, shown_have = _masked(want, have)
    if want == have:
        return ObjectDiff(ref, plans.Action.NOOP, "", before=shown_have, after=shown_want)
    text = yaml_diff(shown_have, shown_want, ref=ref)
    return ObjectDiff(ref, plans.Action.UPDATE, text, before=shown_have, after=shown_want)


def _masked(want: Any, have: Any) -> tuple[Any, Any]:
    """``want`` and ``have`` as shown: Secrets masked (copies); anything else as it is.

    Both are this module's own normalized copies, so nothing else can change them.
    """
    if masking.is_secret(want) or masking.is_secret(have):
        return masking.mask_pair(want, have)
    return want, have


def ignored_pointers(ref: objects.ObjectRef, ignore: Iterable[specs.IgnoreDifference]) -> list[str]:
    """The JSON pointers declared to be ignored for the object ``ref``."""
    found: list[str] = []
    for rule in ignore:
        if rule.kind != ref.kind:
            continue
        if rule.group is not None and rule.group != ref.group:
            continue
        if rule.name is not None and rule.name != ref.name:
            continue
        if rule.namespace is not None and rule.namespace != ref.namespace:
            continue
        found.extend(rule.json_pointers)
    return found


def drop_pointer(value: Any, pointer: str) -> None:
    """Remove the field at JSON pointer ``pointer`` (RFC 6901) from ``value``, if it is there."""
    if not pointer.startswith("/"):
        return
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]
    node = value
    for part in parts[:-1]:
        node = _step(node, part)
        if node is None:
            return
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node.pop(int(last))


def _step(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


def _dump(value: Any) -> list[str]:
    if value is None:
        return []
    text = yaml.dump(
        value,
        Dumper=_DUMPER,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )
    return text.splitlines(keepends=True)


def yaml_diff(before: Any, after: Any, *, ref: objects.ObjectRef) -> str:
    """A unified diff of two (already masked) objects as YAML; live is ``before``."""
    lines = difflib.unified_diff(
        _dump(before),
        _dump(after),
        fromfile=f"{ref.address} (live)" if before is not None else "/dev/null",
        tofile=f"{ref.address} (desired)" if after is not None else "/dev/null",
        n=3,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
