"""Which Terraform (or OpenTofu) a binary is, and whether truenorth can drive it.

``terraform version -json`` (and ``tofu version -json``, which keeps the same key) says
``{"terraform_version": "1.11.4", ...}``. truenorth needs 1.4 or newer: it uses
``workspace select -or-create`` and the JSON plan format 1.x. A binary that prints
something else is not Terraform, and the stack gets a clear error instead of a
confusing failure later.

Pure: text in, a version or a reason out.
"""

from __future__ import annotations

import json
import re

__all__ = ["MINIMUM", "parse_version", "problem"]

#: The oldest Terraform/OpenTofu release truenorth drives.
MINIMUM = (1, 4, 0)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")


def parse_version(text: str) -> str | None:
    """The version string from ``version -json`` output, or None if it holds none."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    version = data.get("terraform_version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not _VERSION.match(version.strip()):
        return None
    return version.strip().removeprefix("v")


def problem(version: str | None, *, binary: str) -> str | None:
    """Why ``version`` (None: not reported) cannot be used, or None when it can."""
    if version is None:
        return f"{binary} did not report a Terraform version (`version -json`); is it Terraform or OpenTofu?"
    match = _VERSION.match(version)
    if match is None:
        return f"{binary} reports an unrecognised version {version!r}"
    found = tuple(int(part) for part in match.groups())
    if found < MINIMUM:
        wanted = ".".join(str(part) for part in MINIMUM)
        return f"{binary} is version {version}, too old: truenorth needs {wanted} or newer"
    return None
