"""What truenorth reads from Terraform state: where it is, which version, which secrets.

truenorth never shows or stores state: it holds secrets in clear text. It reads three
things from it. The state's identity (``lineage`` and ``serial``: Terraform bumps the
serial on every write), so that an apply can refuse a plan made against another state.
The sensitive outputs of the states a stack reads with ``terraform_remote_state``:
Terraform drops their sensitivity when another stack reads them, so the engine
registers them as secrets itself. And the backend ``init`` settled on (from the data
dir), so that a state never lands in the throw-away working copy.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from truenorth.core import redaction

__all__ = [
    "MAX_STATE_BYTES",
    "backend_problem",
    "empty_state",
    "identity",
    "is_empty",
    "local_state_path",
    "parse_state",
    "read_backend",
    "read_state_file",
    "sensitive_outputs",
]

#: State files larger than this are not read for secrets or identity (a clear error).
MAX_STATE_BYTES = 256 * 1024 * 1024


def empty_state() -> str:
    """A valid, empty version-4 state with a fresh lineage."""
    document = {
        "version": 4,
        "terraform_version": "1.4.0",
        "serial": 0,
        "lineage": str(uuid.uuid4()),
        "outputs": {},
        "resources": [],
        "check_results": None,
    }
    return json.dumps(document, indent=2) + "\n"


def local_state_path(backend: Mapping[str, Any], *, workspace: str, cwd: Path) -> Path | None:
    """The state file of ``workspace`` for a ``local`` backend config, or None for others."""
    if backend.get("type") != "local":
        return None
    config = backend.get("config")
    config = config if isinstance(config, Mapping) else {}
    if workspace == "default":
        raw = config.get("path") or "terraform.tfstate"
        return cwd / str(raw)
    base = config.get("workspace_dir") or "terraform.tfstate.d"
    return cwd / str(base) / workspace / "terraform.tfstate"


def read_backend(data_dir: Path) -> dict[str, Any]:
    """The backend ``init`` configured (``{"type": ..., "config": {...}}``), or ``{}``."""
    try:
        data = json.loads((data_dir / "terraform.tfstate").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    backend = data.get("backend") if isinstance(data, dict) else None
    return dict(backend) if isinstance(backend, dict) else {}


def backend_problem(backend: Mapping[str, Any], *, workspace: str) -> str | None:
    """Why the state would be lost with ``backend`` (kept in the working copy), or None."""
    if not backend:
        return "no backend is configured after init, so the state would stay in a temporary copy"
    if backend.get("type") != "local":
        return None
    config = backend.get("config")
    config = config if isinstance(config, Mapping) else {}
    key = "path" if workspace == "default" else "workspace_dir"
    value = config.get(key)
    if not isinstance(value, str) or not posixpath.isabs(value):
        return (
            f'the stack declares backend "local" without an absolute {key}, so its state would '
            "stay in truenorth's temporary working copy: remove the backend block (truenorth "
            "then keeps the state in the stack's state dir) or give an absolute path"
        )
    return None


def read_state_file(path: Path) -> dict[str, Any] | None:
    """A local state file as a dict; None when it does not exist or is empty.

    Raises ``ValueError`` (without the content) when it is too large or not JSON.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_STATE_BYTES:
        raise ValueError(f"state file {path} is larger than {MAX_STATE_BYTES} bytes")
    return parse_state(path.read_bytes().decode("utf-8", errors="replace"), where=str(path))


def parse_state(text: str, *, where: str = "state") -> dict[str, Any] | None:
    """A state document from text (``terraform state pull``); None when empty."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"{where} is not a JSON Terraform state") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where} is not a JSON Terraform state")
    return data


def identity(state: Mapping[str, Any] | None) -> str:
    """``lineage:serial`` of a state, or ``none`` when there is no state yet."""
    if not state:
        return "none"
    return f"{state.get('lineage', '')}:{state.get('serial', '')}"


def is_empty(state: Mapping[str, Any] | None) -> bool:
    """Whether a state holds nothing worth keeping: no resources and no outputs.

    A never-written ``pg`` schema pulls as such a state (serial 0, no lineage), and so
    does the empty state truenorth seeds for a never-applied stack.
    """
    return not state or (not state.get("resources") and not state.get("outputs"))


def sensitive_outputs(state: Mapping[str, Any] | None) -> list[str]:
    """String forms of every output value the state marks sensitive."""
    found: list[str] = []
    outputs = state.get("outputs") if state else None
    if isinstance(outputs, Mapping):
        for output in outputs.values():
            if isinstance(output, Mapping) and output.get("sensitive") is True:
                found.extend(redaction.sensitive_leaves(output.get("value"), True))
    return found
