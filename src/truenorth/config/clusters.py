"""The ``[clusters.<name>]`` section: how to reach the Kubernetes cluster a stack targets.

A Kubernetes stack's ``target: prod`` names ``[clusters.prod]``: a ``kubeconfig`` file,
optionally a ``context``, and three trust switches that are off unless written
``true``: ``allow_exec_credentials`` (run the kubeconfig's exec credential plugin),
``allow_insecure_tls`` (accept ``insecure-skip-tls-verify``) and
``allowed_remote_hosts`` (hosts remote Kustomize bases may come from). A switch must be
a TOML boolean: the text ``"false"`` is an error, never read as true.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from truenorth.config import settings, values

__all__ = ["parse"]

_KEYS = ("kubeconfig", "context", "allow_exec_credentials", "allow_insecure_tls", "allowed_remote_hosts")


def parse(raw: Mapping[str, Any]) -> dict[str, settings.ClusterConfig]:
    """Every ``[clusters.<name>]`` table, by name."""
    return {name: _entry(name, item) for name, item in values.table(raw, "clusters").items()}


def _entry(name: str, item: Any) -> settings.ClusterConfig:
    where = f"clusters.{name}"
    if not isinstance(item, dict) or not isinstance(item.get("kubeconfig"), str):
        raise settings.ConfigError(f"{where}.kubeconfig: missing")
    values.known(item, _KEYS, where)
    hosts = item.get("allowed_remote_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise settings.ConfigError(f"{where}.allowed_remote_hosts: must be a list of host names")
    context = item.get("context")
    return settings.ClusterConfig(
        name=name,
        kubeconfig=item["kubeconfig"],
        context=None if context is None else values.text(context, f"{where}.context"),
        allow_exec_credentials=values.switch(
            item.get("allow_exec_credentials", False), f"{where}.allow_exec_credentials"
        ),
        allow_insecure_tls=values.switch(
            item.get("allow_insecure_tls", False), f"{where}.allow_insecure_tls"
        ),
        allowed_remote_hosts=tuple(hosts),
    )
