"""Where a test finds a stack's engine state: the same rule the controller uses."""

from __future__ import annotations

from pathlib import Path

from truenorth.controller.runs import layout
from truenorth.git import urls

__all__ = ["state_dir"]


def state_dir(data_dir: Path, repository: str, stack: str, *, branch: str = "main") -> Path:
    """``<data-dir>/state/<repo>/<stack>`` for ``repository`` (a path or URL, as given to truenorth)
    tracked on ``branch``."""
    key = urls.repository_key(repository, branch)
    return layout.DataLayout.at(data_dir).state(stack, repository=key)
