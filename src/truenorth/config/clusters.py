"""The ``[clusters.<name>]`` section: how to reach the Kubernetes cluster a stack targets.

A Kubernetes stack's ``target: prod`` names ``[clusters.prod]``: a ``kubeconfig`` file,
optionally a ``context``, and three trust switches that are off unless written
``true``: ``allow_exec_credentials`` (run the kubeconfig's exec credential plugin),
``allow_insecure_tls`` (accept ``insecure-skip-tls-verify``) and
``allowed_remote_hosts`` (hosts remote Kustomize bases may come from). A switch must be
a TOML boolean: the text ``"false"`` is an error, never read as true.

``in_cluster = true`` (instead of ``kubeconfig``) is the cluster truenorth itself runs
in, reached with its pod's service account (``engines/kubernetes/incluster.py``);
``service_account_dir`` moves the credentials' folder (default
``/var/run/secrets/kubernetes.io/serviceaccount``). Only the operator can name it: a
repository's ``target`` must match a configured cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from truenorth.config import settings, values

__all__ = ["parse"]

_KEYS = ("kubeconfig", "context", "allow_exec_credentials", "allow_insecure_tls", "allowed_remote_hosts")
_IN_CLUSTER_KEYS = ("in_cluster", "service_account_dir", "allowed_remote_hosts")


def parse(raw: Mapping[str, Any]) -> dict[str, settings.ClusterConfig]:
    """Every ``[clusters.<name>]`` table, by name."""
    return {name: _entry(name, item) for name, item in values.table(raw, "clusters").items()}


def _entry(name: str, item: Any) -> settings.ClusterConfig:
    where = f"clusters.{name}"
    if isinstance(item, dict) and "in_cluster" in item:
        return _in_cluster(name, item)
    if not isinstance(item, dict) or not isinstance(item.get("kubeconfig"), str):
        raise settings.ConfigError(f"{where}.kubeconfig: missing (or in_cluster = true)")
    values.known(item, _KEYS, where)
    hosts = _hosts(item, where)
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
        allowed_remote_hosts=hosts,
    )


def _in_cluster(name: str, item: dict[str, Any]) -> settings.ClusterConfig:
    """``in_cluster = true``: the cluster truenorth runs in, with its pod's service account."""
    where = f"clusters.{name}"
    values.known(item, _IN_CLUSTER_KEYS, where)
    if not values.switch(item["in_cluster"], f"{where}.in_cluster"):
        raise settings.ConfigError(f"{where}.in_cluster: false means nothing; give a kubeconfig instead")
    folder = item.get("service_account_dir")
    return settings.ClusterConfig(
        name=name,
        kubeconfig="",
        in_cluster=True,
        service_account_dir=None if folder is None else values.text(folder, f"{where}.service_account_dir"),
        allowed_remote_hosts=_hosts(item, where),
    )


def _hosts(item: dict[str, Any], where: str) -> tuple[str, ...]:
    hosts = item.get("allowed_remote_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise settings.ConfigError(f"{where}.allowed_remote_hosts: must be a list of host names")
    return tuple(hosts)
