"""Looking up secrets by reference: values never come from Git.

A stack names a secret (``vault_password: prod``); the operator provides the value to
the controller, either in the environment (``TRUENORTH_SECRET_PROD``) or as a file named
in the configuration. Resolved values are handed to the engine and registered with the
run's redactor so that they are masked wherever they would appear.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from truenorth.core import specs

__all__ = ["SecretResolver", "env_name"]


def env_name(reference: str) -> str:
    """The environment variable that holds secret ``reference`` (``prod-vault`` -> ``TRUENORTH_SECRET_PROD_VAULT``)."""
    return "TRUENORTH_SECRET_" + re.sub(r"[^A-Z0-9]", "_", reference.upper())


@dataclass(frozen=True)
class SecretResolver:
    """Resolves references from configured files or variables first, then ``TRUENORTH_SECRET_*``."""

    files: Mapping[str, Path] = field(default_factory=dict)
    #: reference -> environment variable named in the configuration
    envs: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def lookup(self, reference: str) -> str | None:
        """The secret value for ``reference``, or None when it is not provided."""
        path = self.files.get(reference)
        if path is not None:
            try:
                return path.read_text(encoding="utf-8").rstrip("\n")
            except OSError:
                return None
        configured = self.envs.get(reference)
        if configured is not None:
            return self.environ.get(configured)
        return self.environ.get(env_name(reference))

    def for_stack(self, stack: specs.StackSpec) -> dict[str, str]:
        """The secrets a stack's engine needs, keyed as the engine expects them."""
        found: dict[str, str] = {}
        if isinstance(stack.options, specs.TerraformOptions):
            for name, reference in stack.options.secret_env.items():
                value = self.lookup(reference)
                if value is not None:
                    found[f"env:{name}"] = value
        if isinstance(stack.options, specs.AnsibleOptions) and stack.options.vault_password:
            value = self.lookup(stack.options.vault_password)
            if value is not None:
                found["vault_password"] = value
        return found
