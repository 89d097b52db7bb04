"""The values of a stack's ``sensitive = true`` input variables, known before Terraform runs.

Terraform masks sensitive values in a plan, but not everywhere: a failing ``validation``
block whose ``error_message`` interpolates a sensitive variable prints its value in clear
text, before any plan exists that would tell us it is secret. So before ``init`` the
engine reads the root module's variable declarations (HCL through python-hcl2, and
``*.tf.json``), finds the sensitive ones, and collects every value they can take from
the repository: their defaults, the stack's ``vars``, its var files and the files
Terraform loads by itself (``terraform.tfvars``, ``*.auto.tfvars``, and their ``.json``
forms). The caller registers them with the run's redactor. Values given by secret
reference (``secret_env``) are registered elsewhere; they never come from the repository.

Parsing is best effort: a file that does not parse is skipped here, and Terraform itself
reports the syntax error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from truenorth.engines.terraform import blocks

__all__ = ["MAX_FILE_BYTES", "sensitive_inputs"]

#: Files larger than this are not parsed for secrets (Terraform still reads them).
MAX_FILE_BYTES = 2 * 1024 * 1024
_AUTO_VAR_FILES = ("terraform.tfvars", "terraform.tfvars.json", "*.auto.tfvars", "*.auto.tfvars.json")
# A `variable "name"` block header at the start of a line (strings and comments blanked).
_VARIABLE_HEADER = re.compile(r'(?m)^[ \t]*variable[ \t]+"')


def sensitive_inputs(
    stack_dir: Path,
    *,
    variables: Mapping[str, Any],
    var_files: Sequence[Path],
) -> list[str]:
    """Every string form a sensitive input variable of the root module may take."""
    declared = dict(_declarations(stack_dir))
    sensitive = {name for name, block in declared.items() if block.get("sensitive") is True}
    if not sensitive:
        return []
    values: list[Any] = [declared[name].get("default") for name in sensitive]
    values += [variables[name] for name in sensitive if name in variables]
    files = [*var_files, *sorted(p for pattern in _AUTO_VAR_FILES for p in stack_dir.glob(pattern))]
    for path in files:
        assignments = _read(path)
        values += [assignments[name] for name in sensitive if name in assignments]
    return sorted({text for value in values for text in _strings(value)})


def _declarations(stack_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The variable declarations that may be sensitive (others are left out), by name."""
    for path in sorted(stack_dir.glob("*.tf")) + sorted(stack_dir.glob("*.tf.json")):
        document = _read_json(path) if path.name.endswith(".json") else _read_variables(path)
        blocks = document.get("variable", [])
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if isinstance(block, dict):
                for name, body in block.items():
                    if isinstance(body, dict):
                        yield _unquote(name), body


def _read_variables(path: Path) -> dict[str, Any]:
    """The ``variable`` blocks of one HCL file that mention ``sensitive``, as data.

    Parsing a whole file with python-hcl2 costs about as much as ``terraform plan``
    itself (0.38 s for 50 small resources), so a file without the word ``sensitive`` is
    not parsed at all, and otherwise only its ``variable`` blocks that hold it are
    (:mod:`.blocks`). A file the scan does not fully understand is parsed whole.
    """
    text = _text(path)
    if text is None or "sensitive" not in text:
        return {}
    found = blocks.scan(text)
    variables = [block for block in found.blocks if block.type == "variable"]
    if not found.complete or len(variables) != len(_VARIABLE_HEADER.findall(blocks.blank(text))):
        return _parsed(text)  # a block the scan may have cut wrongly: the parser decides
    candidates = [block for block in variables if "sensitive" in block.body]
    declared: list[Any] = []
    for block in candidates:
        data = _parsed(block.text)
        if not data:
            return _parsed(text)
        declared.extend(data.get("variable", []))
    return {"variable": declared}


def _read(path: Path) -> dict[str, Any]:
    """One HCL or JSON file as data, or ``{}`` when it is missing, too big or broken."""
    if path.name.endswith(".json"):
        return _read_json(path)
    text = _text(path)
    return _parsed(text) if text is not None else {}


def _read_json(path: Path) -> dict[str, Any]:
    text = _text(path)
    try:
        data = json.loads(text) if text is not None else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _parsed(text: str) -> dict[str, Any]:
    """HCL ``text`` as data, or ``{}`` when it does not parse (Terraform reports it, not us)."""
    import hcl2  # (0.8 s to import: only when a file may declare a secret)

    try:
        data = hcl2.loads(text)
    except Exception:  # unparsable input: Terraform reports it, not us
        return {}
    return data if isinstance(data, dict) else {}


def _strings(value: Any) -> Iterable[str]:
    """The scalars inside ``value`` as text (HCL string literals without their quotes)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        text = _unquote(value)
        if "${" not in text:  # an expression, not a value
            yield text
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _unquote(text: str) -> str:
    """python-hcl2 keeps the quotes of string literals: ``'"x"'`` -> ``x``."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text
