"""Reading manifest text into objects, within limits, and writing objects back as YAML.

Manifests come from Git, so they are hostile input (security cases 3 and 6): a huge
folder, a file with 50,000 documents or a "billion laughs" alias bomb must fail with an
error naming the limit, not exhaust the controller's memory. :class:`Limits` bounds the
bytes, the documents and the YAML nodes *as expanded* (an alias counts every time it is
used), for one stack as a whole. Errors name the file and the document, never its
content: a parse error in a Secret must not quote the Secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from truenorth.core import yamls
from truenorth.engines.kubernetes import masking

__all__ = ["DocumentError", "Limits", "Reader", "to_yaml"]


class DocumentError(ValueError):
    """Manifest text that cannot be read: a limit, a syntax error or a non-object."""


@dataclass(frozen=True)
class Limits:
    """Bounds for everything one stack renders (security case 3)."""

    max_bytes: int = 16 * 1024 * 1024
    max_documents: int = 10_000
    max_nodes: int = 2_000_000


@dataclass
class Reader:
    """Parses manifest files one by one, counting against one shared :class:`Limits`."""

    limits: Limits = field(default_factory=Limits)
    bytes_read: int = 0
    documents: int = 0
    nodes: int = 0
    #: Where each object parsed so far came from, in order: ``app/a.yaml (document 2)``.
    origins: list[str] = field(default_factory=list)

    def ensure_room(self, size: int, *, source: str) -> None:
        """Raise when ``size`` more bytes would put the stack over the byte limit (before reading them)."""
        if self.bytes_read + size > self.limits.max_bytes:
            raise DocumentError(
                f"{source}: the stack's manifests are larger than the {self.limits.max_bytes} byte limit"
            )

    def count_bytes(self, size: int, *, source: str) -> None:
        """Account ``size`` bytes of input; raise once the stack is over the byte limit."""
        self.ensure_room(size, source=source)
        self.bytes_read += size

    def parse(self, text: str, *, source: str) -> list[dict[str, Any]]:
        """The objects in ``text`` (YAML or JSON), ``List`` kinds flattened, empty documents skipped."""
        self.count_bytes(len(text.encode("utf-8", "replace")), source=source)
        objects: list[dict[str, Any]] = []
        for index, data in enumerate(self._documents(text, source=source)):
            if data is None:
                continue
            where = f"{source} (document {index + 1})"
            if not isinstance(data, dict):
                raise DocumentError(f"{where}: a manifest must be a mapping, not {type(data).__name__}")
            if data.get("kind") == "List" and isinstance(data.get("items"), list):
                for number, item in enumerate(data["items"]):
                    if not isinstance(item, dict):
                        raise DocumentError(f"{where}: List item {number + 1} is not a mapping")
                    if number:
                        self._count_document(source)  # every item is an object to apply
                    objects.append(item)
                    self.origins.append(f"{where}, List item {number + 1}")
            else:
                objects.append(data)
                self.origins.append(where)
        return objects

    def _documents(self, text: str, *, source: str) -> Iterator[Any]:
        if source.endswith(".json"):
            self._count_document(source)
            try:
                yield json.loads(text)
            except json.JSONDecodeError as exc:
                raise DocumentError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
            return
        loader = yamls.SafeLoader(text)
        try:
            while True:
                try:
                    if not loader.check_node():
                        return
                    node = loader.get_node()
                    if node is None:
                        return
                except yaml.YAMLError as exc:
                    raise DocumentError(f"{source}: not valid YAML: {yamls.yaml_problem(exc)}") from None
                self._count_document(source)
                self.nodes += yamls.expanded_size(node, limit=self.limits.max_nodes - self.nodes)
                if self.nodes > self.limits.max_nodes:
                    raise DocumentError(
                        f"{source}: the manifests expand to more than {self.limits.max_nodes} YAML nodes "
                        "(limit; an alias bomb?)"
                    )
                try:
                    yield loader.construct_document(node)
                except yaml.YAMLError as exc:
                    raise DocumentError(f"{source}: not valid YAML: {yamls.yaml_problem(exc)}") from None
        finally:
            loader.dispose()

    def _count_document(self, source: str) -> None:
        self.documents += 1
        if self.documents > self.limits.max_documents:
            raise DocumentError(
                f"{source}: the stack has more than {self.limits.max_documents} documents (limit)"
            )


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """Objects as a multi-document YAML stream (``---`` between documents, like
    ``kubectl kustomize``), with every Secret value masked."""
    if not objects:
        return ""
    shown = [masking.mask_object(obj) for obj in objects]
    return yaml.safe_dump_all(
        shown, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )
