"""A stack's ``inputs:`` as Terraform variables: environment, checks, fingerprint.

Other stacks' outputs reach a Terraform stack as root-module variables, through the
environment (``TF_VAR_<name>``), never on a command line or in a file: a string is
passed as it is, any other JSON value as its canonical JSON, which is valid HCL for the
lists, maps, objects, numbers and bools a typed variable takes. (An untyped variable, or
one of ``type = any``, receives a non-string value as its JSON *text*: Terraform reads
environment values of untyped variables as strings. Declare the type.) Terraform's
precedence applies: ``terraform.tfvars``, ``*.auto.tfvars``, var files and the stack's
``vars`` override the environment, so an input that the stack also sets in ``vars`` is
refused here; one set in a tfvars file is the repository's own choice.

After the plan, :func:`check_declared` holds the inputs against the root module's
variable declarations as Terraform loaded them (``configuration`` of the saved plan's
``show -json``: override files merged, nothing parsed twice): an input the module
declares no variable for is an error, and so is a sensitive input whose variable is not
``sensitive = true`` (Terraform would show it in the plan).

Each input's digest (keyed by the store for a sensitive value) goes into the plan's
fingerprint (:func:`digests`), so an apply with other inputs refuses the saved plan as
stale. Pure: values in, an environment, an error or digests out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from truenorth.core import outputs as stack_outputs
from truenorth.engines import protocol

__all__ = ["MAX_VALUE_BYTES", "check_declared", "digests", "environment", "ordered", "text_of"]

#: Linux refuses to start a program with one environment string longer than this
#: (``MAX_ARG_STRLEN``); a larger input is a clear error instead of "Argument list too long".
MAX_VALUE_BYTES = 128 * 1024
_PREFIX = "TF_VAR_"
# Terraform's identifier syntax (a variable name).
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
# Keys the digests of sensitive inputs that came without one: never guessable from a
# stored fingerprint, the same for a plan and its apply in one process, and a plan made
# by another process is refused as stale (safe). The controller always gives digests.
_PROCESS_KEY = secrets.token_bytes(32)


def text_of(value: Any) -> str:
    """What ``TF_VAR_<name>`` holds: a string as it is, anything else as canonical JSON."""
    return value if isinstance(value, str) else stack_outputs.canonical_json(value)


def ordered(inputs: stack_outputs.Input) -> tuple[stack_outputs.InputValue, ...]:
    """The inputs in name order (what :attr:`Plan.inputs` records)."""
    return tuple(inputs[name] for name in sorted(inputs))


def environment(
    inputs: stack_outputs.Input,
    *,
    stack: str,
    variables: Mapping[str, Any],
    secret_env: Mapping[str, str],
) -> dict[str, str]:
    """``TF_VAR_<name>`` for every input; EngineError for one that cannot be delivered.

    ``variables`` and ``secret_env`` are the stack's own ``vars`` and ``secret_env``: an
    input must not be set twice (the stack's value would win, or one would hide the other).
    """
    env: dict[str, str] = {}
    for item in ordered(inputs):
        name = item.name
        where = f"stack {stack!r}: input {name} (from {item.ref.source})"
        if not _IDENTIFIER.match(name):
            raise protocol.EngineError(f"{where}: {name!r} is not a Terraform variable name")
        if not item.known:
            raise protocol.EngineError(
                f"{where}: its value is not known yet {stack_outputs.known_after(item.ref.stack)}"
            )
        if name in variables:
            raise protocol.EngineError(
                f'{where}: the stack also sets variable "{name}" in its terraform vars; remove one of them'
            )
        key = _PREFIX + name
        if key in secret_env:
            raise protocol.EngineError(
                f"{where}: the stack also sets {key} in its secret_env; remove one of them"
            )
        text = text_of(item.value)
        size = len(key.encode()) + 1 + len(text.encode("utf-8"))
        if size > MAX_VALUE_BYTES or "\0" in text:
            raise protocol.EngineError(
                f"{where}: its value cannot be passed in the environment "
                + (
                    "(it contains a NUL character)"
                    if "\0" in text
                    else f"({size} bytes; at most {MAX_VALUE_BYTES})"
                )
            )
        env[key] = text
    return env


def check_declared(inputs: stack_outputs.Input, declared: Mapping[str, bool], *, stack: str) -> None:
    """EngineError unless each input has a variable, sensitive for a sensitive input.

    ``declared`` maps each root-module variable to whether it is ``sensitive = true``.
    """
    for item in ordered(inputs):
        name = item.name
        if name not in declared:
            raise protocol.EngineError(
                f'input {name}: stack {stack!r} declares no variable "{name}" '
                f'(add `variable "{name}" {{}}` to its root module, or remove the input)'
            )
        if item.sensitive and not declared[name]:
            raise protocol.EngineError(
                f"input {name}: {item.ref.source} is sensitive, but stack {stack!r} does not declare "
                f'variable "{name}" sensitive; add `sensitive = true` to it'
            )


def digests(inputs: stack_outputs.Input) -> list[tuple[str, str]]:
    """(name, digest) of every input in name order, for the plan's fingerprint."""
    return [(item.name, _digest(item)) for item in ordered(inputs)]


def _digest(item: stack_outputs.InputValue) -> str:
    if item.digest:
        return item.digest
    if not item.sensitive:
        return stack_outputs.digest_of(item.value)
    text = stack_outputs.canonical_json(item.value).encode("utf-8")
    return "process:" + hmac.new(_PROCESS_KEY, text, hashlib.sha256).hexdigest()
