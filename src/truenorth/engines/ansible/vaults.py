"""Learning a stack's vault plaintext before Ansible runs, so that it can be masked.

Ansible prints decrypted vault values wherever a task shows them (a template's diff, a
``debug``), and only ``no_log`` stops it. truenorth decrypts the stack's vault content
itself first (whole vault files and inline ``!vault`` values in YAML), with
:class:`ansible.parsing.vault.VaultLib` and the password the controller resolved, and
returns every plaintext string so that the run's redactor masks it in every output, log,
artifact and record. A wrong password or a missing reference is a clear error naming
the file, before anything runs. YAML is only composed (never constructed), so aliases
are not expanded and a hostile file cannot blow up memory here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from truenorth.engines import protocol

__all__ = ["MAX_VAULT_FILE_BYTES", "VaultContent", "read_vault_content"]

VAULT_HEADER = b"$ANSIBLE_VAULT;"
#: Files larger than this are not searched for inline vault values.
MAX_VAULT_FILE_BYTES = 4 * 1024 * 1024
_YAML_SUFFIXES = frozenset({".yml", ".yaml", ".json", ""})
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class VaultContent:
    """The stack's vault-encrypted files and the plaintext strings found in them."""

    files: tuple[str, ...] = ()
    plaintexts: tuple[str, ...] = field(default=(), repr=False)


def read_vault_content(
    root: Path,
    files: Iterable[Path],
    *,
    password: str | None,
    reference: str | None,
) -> VaultContent:
    """Decrypt every vault value under ``root`` with ``password``; collect the plaintexts.

    Raises EngineError when vault content exists but no password was given, or when the
    password does not decrypt a file.
    """
    found: list[tuple[str, list[bytes]]] = []
    for path in files:
        relative = str(path.relative_to(root))
        blobs = _vault_blobs(path)
        if blobs:
            found.append((relative, blobs))
    if not found:
        return VaultContent()
    if password is None:
        raise protocol.EngineError(
            f"{found[0][0]} is vault-encrypted but the stack declares no vault_password reference"
        )
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import VaultLib, VaultSecret

    # One password for every vault id in the stack, as ``--vault-password-file`` does.
    vault = VaultLib([("default", VaultSecret(password.encode("utf-8")))])
    plaintexts: list[str] = []
    for relative, blobs in found:
        for blob in blobs:
            try:
                clear = vault.decrypt(blob).decode("utf-8", "replace")
            except AnsibleError:
                raise protocol.EngineError(
                    f"the vault password from reference {reference!r} does not decrypt {relative}"
                ) from None
            plaintexts.extend(_leaves(clear))
    return VaultContent(files=tuple(relative for relative, _ in found), plaintexts=tuple(plaintexts))


def _vault_blobs(path: Path) -> list[bytes]:
    """The encrypted payloads in one file: the whole file, or its inline ``!vault`` values."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(VAULT_HEADER))
            if head == VAULT_HEADER:
                return [head + handle.read()]
            if path.suffix.lower() not in _YAML_SUFFIXES or path.stat().st_size > MAX_VAULT_FILE_BYTES:
                return []
            data = head + handle.read()
    except OSError:
        return []
    if b"!vault" not in data:
        return []
    try:
        nodes = list(yaml.compose_all(data.decode("utf-8", "replace"), Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    return [node.value.encode("utf-8") for node in _scalars(nodes) if node.tag == "!vault"]


def _leaves(clear: str) -> list[str]:
    """The strings to mask for one decrypted value: its YAML string leaves, or all of it."""
    try:
        nodes = list(yaml.compose_all(clear, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return [clear]
    leaves = [node.value for node in _scalars(nodes, values_only=True) if node.tag == _STR_TAG]
    if len(nodes) == 1 and isinstance(nodes[0], yaml.ScalarNode):
        leaves.insert(0, clear.strip())
    return list(dict.fromkeys(leaves)) or [clear]


def _scalars(roots: list[yaml.Node], *, values_only: bool = False) -> Iterator[yaml.ScalarNode]:
    """Every scalar node under ``roots`` once (shared alias nodes are visited once)."""
    seen: set[int] = set()
    stack: list[yaml.Node] = [node for node in roots if node is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield node
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if not values_only:
                    stack.append(key)
                stack.append(value)
