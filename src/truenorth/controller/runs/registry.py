"""Which engine serves which ``engine:`` value.

Engines are imported lazily: a machine without Ansible's heavy imports still plans
Terraform stacks quickly, and a missing engine is reported for its stacks alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from truenorth.engines import protocol

__all__ = ["ENGINE_CLASSES", "EngineRegistry"]

#: engine name -> "module:Class"
ENGINE_CLASSES: Mapping[str, str] = {
    "terraform": "truenorth.engines.terraform.engine:TerraformEngine",
    "ansible": "truenorth.engines.ansible.engine:AnsibleEngine",
    "kubernetes": "truenorth.engines.kubernetes.engine:KubernetesEngine",
}


class EngineRegistry:
    """Creates each engine once, on first use."""

    def __init__(self, overrides: Mapping[str, protocol.Engine] | None = None) -> None:
        self._engines: dict[str, protocol.Engine] = dict(overrides or {})

    def get(self, name: str) -> protocol.Engine:
        """The engine for ``name``; :class:`~truenorth.engines.protocol.EngineError` if unavailable."""
        if name not in self._engines:
            target = ENGINE_CLASSES.get(name)
            if target is None:
                raise protocol.EngineError(f"unknown engine {name!r}")
            module_name, _, class_name = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise protocol.EngineError(f"the {name} engine is not available: {exc}") from None
            self._engines[name] = getattr(module, class_name)()
        return self._engines[name]
