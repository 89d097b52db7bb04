"""The ``[secrets]`` section: the secret references a stack may name.

``prod-vault = { file = "/etc/truenorth/vault-pass" }`` or ``{ env = "VAULT_PASS" }``:
one of the two, never both (which one would win is not obvious). Only the reference is
kept here; :mod:`truenorth.controller.runs.secrets` resolves it when a stack needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from truenorth.config import settings, values

__all__ = ["parse"]


def parse(raw: Mapping[str, Any]) -> tuple[dict[str, Path], dict[str, str]]:
    """The references by name: ``(files, environment variables)``."""
    files: dict[str, Path] = {}
    envs: dict[str, str] = {}
    for name, item in values.table(raw, "secrets").items():
        where = f"secrets.{name}"
        if not isinstance(item, dict) or len({"file", "env"} & set(item)) != 1:
            raise settings.ConfigError(f"{where}: give file = PATH or env = NAME")
        values.known(item, ("file", "env"), where)
        if "file" in item:
            files[name] = Path(values.text(item["file"], f"{where}.file"))
        else:
            envs[name] = values.text(item["env"], f"{where}.env")
    return files, envs
