"""What truenorth has applied for a stack: the list pruning works from.

Pruning must never delete what truenorth does not own, so it starts from a record of
what truenorth itself applied (Flux keeps one in the Kustomization status, kapp in a
ConfigMap) and then also requires the owner labels on the live object. The record is
a JSON file in the stack's private ``state_dir``, next to the run history, not a
ConfigMap in the cluster:

* it is written by the same process that records the run, with no extra API object to
  create, no namespace to choose for a stack of cluster-scoped objects, and no RBAC
  grant to write ConfigMaps;
* nobody with only cluster access can edit it to make truenorth delete something;
* losing it fails safe: nothing is pruned (objects are left behind, never deleted
  wrongly), and the owner labels still show which objects belong to the stack.

The file is replaced atomically; entries whose delete failed stay in it, so the next
run tries again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from truenorth.engines.kubernetes import objects

__all__ = ["FILENAME", "Inventory", "InventoryError", "load", "save"]

FILENAME = "kubernetes-inventory.json"
_VERSION = 1


class InventoryError(RuntimeError):
    """The inventory file exists but cannot be read or written."""


@dataclass(frozen=True)
class Inventory:
    """The objects truenorth applied for ``stack`` (sorted, unique) and the revision last applied."""

    stack: str
    refs: tuple[objects.ObjectRef, ...] = ()
    revision: str = ""

    @classmethod
    def of(cls, stack: str, refs: Iterable[objects.ObjectRef], *, revision: str = "") -> Inventory:
        """An inventory holding ``refs`` once each, in a stable order."""
        return cls(stack=stack, refs=tuple(sorted(set(refs))), revision=revision)

    def digest(self) -> str:
        """A short fingerprint of the entries (a plan made from another inventory is stale)."""
        text = "\n".join(ref.address for ref in self.refs)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        """Stable JSON form (the file's content)."""
        return {
            "version": _VERSION,
            "stack": self.stack,
            "revision": self.revision,
            "objects": [ref.to_dict() for ref in self.refs],
        }


def _path(state_dir: Path) -> Path:
    return state_dir / FILENAME


def load(state_dir: Path, *, stack: str) -> Inventory:
    """The stack's inventory; empty when truenorth never applied it."""
    path = _path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Inventory(stack=stack)
    except OSError as exc:
        raise InventoryError(f"cannot read the inventory {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise ValueError("unknown format")
        refs = [objects.ObjectRef.from_dict(item) for item in data.get("objects", [])]
        return Inventory.of(stack, refs, revision=str(data.get("revision", "")))
    except (ValueError, TypeError, AttributeError, objects.ManifestError) as exc:
        raise InventoryError(
            f"the inventory {path} is damaged ({exc}); nothing can be pruned until it is fixed or removed"
        ) from None


def save(state_dir: Path, inventory: Inventory) -> None:
    """Replace the stack's inventory atomically."""
    state_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(inventory.to_dict(), indent=2, sort_keys=True) + "\n"
    try:
        handle, temporary = tempfile.mkstemp(dir=state_dir, prefix=".inventory-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, _path(state_dir))
    except OSError as exc:
        raise InventoryError(f"cannot write the inventory in {state_dir}: {exc.strerror}") from None
