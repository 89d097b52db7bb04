"""What ``terraform init`` depends on, as one digest: init runs again only when it changes.

``init`` installs providers and modules and configures the backend. What decides its
result is a small part of a configuration, and this module collects exactly that part
from the root module and, recursively, from every local module it calls (``./x``,
``../x``), file by file (:mod:`.blocks` cuts each file into its top-level blocks):

* every ``terraform`` block whole (``required_providers``, ``backend``, ``cloud``,
  ``required_version``...);
* each ``module`` call's name, ``source`` and ``version`` (not its arguments);
* each ``provider`` block's name (not its settings);
* the providers resources, data sources and ephemeral resources imply: the prefix of
  each type (``aws_instance`` -> ``aws``) and every ``provider = NAME`` inside them;
* any other block whose type this list does not name, whole (``check`` blocks and
  whatever a newer Terraform adds); ``variable``, ``output``, ``locals``, ``moved``,
  ``import`` and ``removed`` blocks are left out;
* a file that does not scan cleanly, whole.

With OpenTofu (``tofu``) a backend or a module source may use variables and locals
(early evaluation), so its ``variable`` and ``locals`` blocks count too, and the caller
adds the values the stack gives them. The dependency lock file, the CLI configuration,
the binary and the backend truenorth adds are added by the caller
(:mod:`.preparing`); changing a resource's arguments, a variable or an output never
causes an ``init``. If a change is missed anyway (a module source that moved on a
branch, say), Terraform says so when planning and the engine runs ``init`` then
(:func:`.preparing.reinit`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from truenorth.engines.terraform import blocks

__all__ = ["CONFIG_SUFFIXES", "init_key"]

#: The files Terraform reads as a module's configuration.
CONFIG_SUFFIXES = (".tf", ".tf.json", ".tofu", ".tofu.json")
#: Blocks that cannot change what ``init`` does (for Terraform).
_IGNORED = frozenset({"variable", "output", "locals", "moved", "import", "removed"})
_RESOURCES = frozenset({"resource", "data", "ephemeral"})
_PROVIDER_REFERENCE = re.compile(r"(?m)^[ \t]*provider[ \t]*=[ \t]*([A-Za-z_][A-Za-z0-9_-]*)")
_ATTRIBUTE = re.compile(r'(?m)^[ \t]*(source|version)[ \t]*=[ \t]*("[^"\n]*")')
# Local module sources Terraform copies from disk (and does not download).
_LOCAL_SOURCE = re.compile(r"^\.\.?/")
_MAX_FILE_BYTES = 8 * 1024 * 1024
_MAX_MODULES = 1000


def init_key(module_dir: Path, *, tree: Path, tofu: bool = False) -> str:
    """The digest of what ``init`` reads in the module at ``module_dir`` and the local modules it calls.

    ``tree`` bounds where local modules may be (the working copy); one outside it is
    keyed by its source text alone.
    """
    digest = hashlib.sha256()
    seen: set[Path] = set()
    pending = [module_dir]
    root = Path(os.path.realpath(tree))
    while pending and len(seen) < _MAX_MODULES:
        folder = Path(os.path.realpath(pending.pop()))
        if folder in seen:
            continue
        seen.add(folder)
        relative = folder.relative_to(root).as_posix() if _inside(folder, root) else str(folder)
        digest.update(b"module\0" + relative.encode() + b"\0")
        for fact, local_source in _module_facts(folder, tofu=tofu):
            digest.update(fact.encode("utf-8", "surrogatepass") + b"\0")
            if local_source is not None:
                target = Path(os.path.realpath(folder / local_source))
                if _inside(target, root) and target.is_dir():
                    pending.append(target)
    return digest.hexdigest()


def _module_facts(folder: Path, *, tofu: bool) -> Iterator[tuple[str, str | None]]:
    """(fact, local module source or None) for each init-relevant fact of one module."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    found: set[tuple[str, str | None]] = set()  # a set: which file, and how often, does not matter
    for name in names:
        path = folder / name
        if not name.endswith(CONFIG_SUFFIXES) or not path.is_file():
            continue
        try:
            data = path.read_bytes() if path.stat().st_size <= _MAX_FILE_BYTES else None
        except OSError:
            data = None
        if data is None:
            found.add((f"file {name} unreadable or too large", None))
            continue
        facts = _json_facts(data, tofu=tofu) if name.endswith(".json") else _hcl_facts(data, tofu=tofu)
        if facts is None:  # not understood: the whole file counts
            found.add((f"file {name} {hashlib.sha256(data).hexdigest()}", None))
            continue
        found.update(facts)
    yield from sorted(found, key=lambda item: (item[0], item[1] or ""))


def _hcl_facts(data: bytes, *, tofu: bool) -> list[tuple[str, str | None]] | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found = blocks.scan(text)
    if not found.complete:
        return None
    facts: list[tuple[str, str | None]] = []
    for block in found.blocks:
        kind = block.type
        if kind == "module":
            attributes = {
                match.group(1): match.group(2)
                for match in _ATTRIBUTE.finditer(_top_level(block.body, block.plain))
            }
            source = attributes.get("source", "")
            facts.append(
                (
                    f"module {block.labels} source={source} version={attributes.get('version', '')}",
                    _local_source(source[1:-1] if source else ""),
                )
            )
        elif kind == "provider":
            facts.append((f"provider {block.labels[:1]}", None))
        elif kind in _RESOURCES:
            facts.extend((f"provider {name}", None) for name in _implied_providers(block))
        elif kind in _IGNORED and not (tofu and kind in ("variable", "locals")):
            continue
        else:
            facts.append((f"{kind} {block.labels} {block.body.strip()}", None))
    return facts


def _json_facts(data: bytes, *, tofu: bool) -> list[tuple[str, str | None]] | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    facts: list[tuple[str, str | None]] = []
    for kind, value in document.items():
        if kind == "//":
            continue
        if kind == "module" and isinstance(value, dict):
            for name, given in value.items():
                body = given if isinstance(given, dict) else {}
                source, version = body.get("source"), body.get("version")
                facts.append(
                    (
                        f"module {name!r} source={source!r} version={version!r}",
                        _local_source(source) if isinstance(source, str) else None,
                    )
                )
        elif kind == "provider" and isinstance(value, dict):
            facts.extend((f"provider {name!r}", None) for name in value)
        elif kind in _RESOURCES and isinstance(value, dict):
            for type_name, instances in value.items():
                facts.append((f"provider {type_name.split('_', 1)[0]}", None))
                for body in instances.values() if isinstance(instances, dict) else ():
                    provider = body.get("provider") if isinstance(body, dict) else None
                    if isinstance(provider, str):
                        facts.append((f"provider {provider.split('.', 1)[0]}", None))
        elif kind in _IGNORED and not (tofu and kind in ("variable", "locals")):
            continue
        else:
            facts.append((f"{kind} {_canonical(value)}", None))
    return facts


def _implied_providers(block: blocks.Block) -> set[str]:
    """The provider names a resource-like block needs: its type's prefix and ``provider =``."""
    names = {block.labels[0].split("_", 1)[0]} if block.labels else set()
    names.update(match.group(1) for match in _PROVIDER_REFERENCE.finditer(block.plain))
    return names


def _top_level(body: str, plain: str) -> str:
    """The lines of ``body`` outside any nested block, object, list or call (nesting blanked)."""
    kept: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(plain):
        if char in "{[(":
            if depth == 0:
                kept.append(body[start:index])
            depth += 1
        elif char in "}])" and depth:
            depth -= 1
            if depth == 0:
                start = index + 1
    if depth == 0:
        kept.append(body[start:])
    return "".join(kept)


def _local_source(source: str) -> str | None:
    return source if _LOCAL_SOURCE.match(source) else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
