"""Everything one Ansible run needs, checked before anything runs.

:func:`prepare` turns a :class:`~truenorth.engines.protocol.StackContext` into
:class:`AnsibleInputs`: the stack folder, playbook and inventory resolved inside the
stack folder (refused when they escape it or are missing), the ``limit`` checked, the
vault password taken from the controller's resolved secrets (never from Git) and every
vault plaintext registered with the run's redactor, and the stack's ``inputs:`` (other
stacks' outputs, all known) checked to become extra vars, sensitive ones registered with
the redactor too. Each problem is an
:class:`~truenorth.engines.protocol.EngineError` that names the stack's own input, so a
bad stack fails alone. :func:`fingerprint` identifies what a plan was made from, so an
apply can refuse a stale plan.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truenorth.core import outputs as core_outputs
from truenorth.engines import protocol
from truenorth.engines.ansible import paths, vaults

__all__ = ["VAULT_SECRET", "AnsibleInputs", "fingerprint", "input_vars", "prepare"]

#: The key under which the controller hands over the resolved vault password.
VAULT_SECRET = "vault_password"  # noqa: S105 - a key name, not a password
#: What Ansible accepts as a variable name.
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class AnsibleInputs:
    """A stack's resolved, checked inputs. Paths are absolute and inside ``stack_dir``."""

    stack_dir: Path
    playbook: Path
    inventory: Path | None = None
    limit: str | None = None
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    vault_password: str | None = field(default=None, repr=False)
    vault_files: tuple[str, ...] = ()
    #: The stack's ``inputs:`` by name, as extra vars (sensitive values: memory only).
    input_vars: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def all_vars(self) -> dict[str, Any]:
        """Every extra var of the run: the stack's own ``extra_vars`` and its inputs."""
        return {**self.extra_vars, **self.input_vars}


def prepare(ctx: protocol.StackContext) -> AnsibleInputs:
    """Resolve and check the stack's inputs; register vault secrets with ``ctx.redactor``."""
    options = ctx.stack.ansible
    if not ctx.checkout.is_dir():
        raise protocol.EngineError(f"the checkout {ctx.checkout} does not exist")
    stack_dir = paths.resolve_inside(ctx.checkout, ctx.stack.path, what="stack")
    if not stack_dir.is_dir():
        raise protocol.EngineError(f"the stack folder {ctx.stack.path!r} does not exist at this revision")
    playbook = paths.resolve_inside(stack_dir, options.playbook, what="playbook")
    if not playbook.is_file():
        raise protocol.EngineError(
            f"playbook {options.playbook!r} not found in the stack folder {ctx.stack.path!r}"
        )
    inventory = None
    if options.inventory is not None:
        inventory = paths.resolve_inside(stack_dir, options.inventory, what="inventory")
        if not inventory.exists():
            raise protocol.EngineError(
                f"inventory {options.inventory!r} not found in the stack folder {ctx.stack.path!r}"
            )
    if options.limit is not None and (not options.limit.strip() or options.limit.startswith("-")):
        raise protocol.EngineError(f"limit {options.limit!r} refused: it must be a host pattern")
    password: str | None = None
    if options.vault_password is not None:
        password = ctx.secrets.get(VAULT_SECRET)
        if password is None:
            raise protocol.EngineError(
                f"vault password reference {options.vault_password!r} is not resolved: "
                "configure it in the controller (environment variable or file)"
            )
        ctx.redactor.add(password)
    files = paths.stack_files(stack_dir)
    content = vaults.read_vault_content(stack_dir, files, password=password, reference=options.vault_password)
    ctx.redactor.add(*content.plaintexts)
    return AnsibleInputs(
        stack_dir=stack_dir,
        playbook=playbook,
        inventory=inventory,
        limit=options.limit,
        extra_vars=dict(options.extra_vars),
        vault_password=password,
        vault_files=content.files,
        input_vars=input_vars(ctx),
    )


def input_vars(ctx: protocol.StackContext) -> dict[str, Any]:
    """The stack's ``inputs:`` as extra vars; sensitive values are registered with the redactor.

    Refused (EngineError naming the input): an input whose value is not known yet (the
    controller never hands one to an engine), a name Ansible cannot use as a variable,
    and a name the stack's own ``extra_vars`` also sets.
    """
    ctx.redactor.add(*core_outputs.sensitive_values(ctx.inputs))
    found: dict[str, Any] = {}
    for name in sorted(ctx.inputs):
        item = ctx.inputs[name]
        if not item.known:
            raise protocol.EngineError(
                f"input {name!r} ({item.ref.source}) is not known yet {core_outputs.known_after(item.ref.stack)}"
            )
        if not _VARIABLE.fullmatch(name) or keyword.iskeyword(name):
            raise protocol.EngineError(f"input {name!r} is not a valid Ansible variable name")
        if name in ctx.stack.ansible.extra_vars:
            raise protocol.EngineError(
                f"input {name!r} ({item.ref.source}) is also set in the stack's extra_vars: rename one"
            )
        found[name] = item.value
    return found


def fingerprint(ctx: protocol.StackContext) -> str:
    """A digest of the revision and the stack's options: equal means "same inputs"."""
    options = ctx.stack.ansible
    data = {
        "engine": "ansible",
        "stack": ctx.stack.name,
        "path": ctx.stack.path,
        "revision": ctx.revision,
        "playbook": options.playbook,
        "inventory": options.inventory,
        "limit": options.limit,
        "extra_vars": options.extra_vars,
        "vault_password": options.vault_password,
    }
    encoded = json.dumps(data, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()
