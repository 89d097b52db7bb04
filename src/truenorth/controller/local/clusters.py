"""Which cluster a Kubernetes stack targets when a local command runs it.

``truenorth serve`` resolves a stack's ``target: NAME`` through its configuration's
``[clusters.NAME]`` tables. The local commands (``plan``, ``apply``, ``drift``,
``render``) read no configuration unless told to, so they take the target on the
command line: ``--config FILE`` reads the ``[clusters]`` tables of the controller's
file (only them: the rest of the file is not needed here and is not checked), and
``--kubeconfig FILE [--context NAME]`` makes that kubeconfig every Kubernetes stack's
target for this run, winning over ``--config``. A stack whose target is found nowhere
gets an empty lookup, and the engine's error names the target and both ways to set it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from truenorth.config import clusters as cluster_tables
from truenorth.config import settings
from truenorth.controller.runs import runtime
from truenorth.core import specs

__all__ = ["ClusterError", "lookup"]

#: A configuration file is small; a bigger one is a mistake, not a configuration.
MAX_CONFIG_BYTES = 1024 * 1024


class ClusterError(ValueError):
    """The ``--config`` file cannot be read, or its ``[clusters]`` tables are wrong."""


def lookup(
    *, config: Path | None = None, kubeconfig: Path | None = None, context: str | None = None
) -> runtime.ClusterLookup | None:
    """The cluster lookup for a local command; None when neither option was given."""
    if context and kubeconfig is None:
        raise ClusterError("--context needs --kubeconfig FILE (the kubeconfig the context is in)")
    tables = _tables(config) if config is not None else {}
    override: dict[str, str] | None = None
    if kubeconfig is not None:
        override = {
            "kubeconfig": str(kubeconfig),
            "allow_exec_credentials": "false",
            "allow_insecure_tls": "false",
            "allowed_remote_hosts": "",
        }
        if context:
            override["context"] = context
    if override is None and config is None:
        return None

    def find(stack: specs.StackSpec) -> Mapping[str, str]:
        if not isinstance(stack.options, specs.KubernetesOptions):
            return {}
        if override is not None:
            return override
        target = stack.options.target
        if target is not None and target in tables:
            return tables[target].settings()
        return {}

    return find


def _tables(path: Path) -> dict[str, settings.ClusterConfig]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ClusterError(f"--config {path}: larger than {MAX_CONFIG_BYTES} bytes")
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClusterError(f"--config {path}: cannot be read: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise ClusterError(f"--config {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClusterError(f"--config {path}: not valid TOML: {exc}") from None
    try:
        return cluster_tables.parse(raw)
    except settings.ConfigError as exc:
        raise ClusterError(f"--config {path}: {exc}") from None
