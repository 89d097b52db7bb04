"""Reading and vetting the kubeconfig of a stack's cluster before any client sees it.

The controller resolves a stack's ``target`` to cluster settings and passes them in
``StackContext.settings``: ``kubeconfig`` (a path), ``context`` (optional),
``allow_exec_credentials`` and ``allow_insecure_tls`` (``true``/``false``, default
false). A kubeconfig can run programs (``exec`` credential plugins) and can switch TLS
verification off (``insecure-skip-tls-verify``); both are refused unless the operator
enabled them for that cluster (security case 18, Flux CVE-2022-24817). Plain ``http://``
servers are allowed only on loopback (``kubectl proxy``), and otherwise count as
insecure. The vetted document is reduced to the one context in use and handed to the
client as data, so the file is read exactly once.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truenorth.core import specs
from truenorth.engines import protocol
from truenorth.engines.kubernetes import incluster

__all__ = ["ClusterAccess", "load", "missing_target", "setting_flag"]

MAX_KUBECONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ClusterAccess:
    """The one context a stack uses: its kubeconfig document reduced to that context."""

    path: Path
    context: str
    server: str
    namespace: str
    config: Mapping[str, Any] = field(repr=False)


def setting_flag(settings: Mapping[str, str], key: str) -> bool:
    """A boolean cluster setting (``true``/``false``, also ``1``/``0``, ``yes``/``no``)."""
    raw = str(settings.get(key, "false")).strip().lower()
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off", ""):
        return False
    raise protocol.EngineError(f"cluster setting {key} must be true or false, not {raw!r}")


def load(settings: Mapping[str, str], *, stack: str, target: str | None = None) -> ClusterAccess:
    """Read, vet and reduce the stack's kubeconfig; :class:`EngineError` with a clear reason.

    ``target`` is the stack's ``target`` option, named when no cluster is configured.
    ``in_cluster = true`` uses the pod's service account instead of a file (:mod:`.incluster`).
    """
    if setting_flag(settings, "in_cluster"):
        folder = Path(settings.get("service_account_dir") or incluster.SERVICE_ACCOUNT_DIR)
        pod_config, pod_server, pod_namespace = incluster.document(folder)
        return ClusterAccess(
            path=folder / "token",
            context=incluster.CONTEXT,
            server=pod_server,
            namespace=pod_namespace,
            config=pod_config,
        )
    raw_path = settings.get("kubeconfig", "").strip()
    if not raw_path:
        raise protocol.EngineError(missing_target(stack, target))
    path = Path(raw_path).expanduser()
    allow_exec = setting_flag(settings, "allow_exec_credentials")
    allow_insecure = setting_flag(settings, "allow_insecure_tls")
    where = f"kubeconfig {path}"
    try:
        if path.stat().st_size > MAX_KUBECONFIG_BYTES:
            raise protocol.EngineError(f"{where} is larger than {MAX_KUBECONFIG_BYTES} bytes")
        data = specs.load_yaml_bounded(path.read_text(encoding="utf-8"), max_bytes=MAX_KUBECONFIG_BYTES)
    except protocol.EngineError:
        raise
    except OSError as exc:
        raise protocol.EngineError(f"{where} cannot be read: {exc.strerror or type(exc).__name__}") from None
    except Exception:  # YAML errors quote the input, which may hold a token: say only that it is bad
        raise protocol.EngineError(f"{where} is not valid YAML") from None
    if not isinstance(data, Mapping):
        raise protocol.EngineError(f"{where} is not a kubeconfig (not a mapping)")
    context_name = (settings.get("context") or "").strip() or data.get("current-context")
    if not isinstance(context_name, str) or not context_name:
        raise protocol.EngineError(f"{where} has no current-context and the cluster settings name no context")
    context = _named(data, "contexts", key="context", name=context_name, where=where)
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise protocol.EngineError(f"{where}: context {context_name!r} names no cluster")
    if not isinstance(user_name, str) or not user_name:
        raise protocol.EngineError(f"{where}: context {context_name!r} names no user")
    cluster = _named(data, "clusters", key="cluster", name=cluster_name, where=where)
    user = _named(data, "users", key="user", name=user_name, where=where)
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise protocol.EngineError(f"{where}: cluster {cluster_name!r} has no server")
    _check_tls(
        cluster, server=server, where=f"{where}: cluster {cluster_name!r}", allow_insecure=allow_insecure
    )
    _check_user(user, where=f"{where}: user {user_name!r}", allow_exec=allow_exec)
    namespace = context.get("namespace")
    reduced = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context_name,
        "contexts": [{"name": context_name, "context": dict(context)}],
        "clusters": [{"name": cluster_name, "cluster": dict(cluster)}],
        "users": [{"name": user_name, "user": dict(user)}],
    }
    return ClusterAccess(
        path=path,
        context=context_name,
        server=server,
        namespace=namespace if isinstance(namespace, str) and namespace else "default",
        config=reduced,
    )


def missing_target(stack: str, target: str | None) -> str:
    """Why a stack has no cluster, naming its target and the two ways to give it one."""
    if target:
        return (
            f"stack {stack}: its target cluster {target!r} is not configured here. Give it a cluster "
            "either with --kubeconfig FILE [--context NAME] "
            f"(truenorth plan/apply/drift/sync/approve/rollback), or with a [clusters.{target}] table "
            "(kubeconfig = FILE) in the controller's configuration (truenorth serve --config FILE; "
            "local commands read it with --config FILE)"
        )
    return (
        f"stack {stack} names no target cluster. Give it one either with --kubeconfig FILE "
        "[--context NAME] (truenorth plan/apply/drift/sync/approve/rollback), or with target: NAME "
        "in truenorth.yaml and a [clusters.NAME] table (kubeconfig = FILE) in the controller's "
        "configuration (truenorth serve --config FILE; local commands read it with --config FILE)"
    )


def _named(data: Mapping[str, Any], section: str, *, key: str, name: str, where: str) -> Mapping[str, Any]:
    entries = data.get(section)
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, Mapping) and entry.get("name") == name:
                value = entry.get(key)
                if value is None:
                    return {}
                if isinstance(value, Mapping):
                    return value
                raise protocol.EngineError(f"{where}: {section[:-1]} {name!r} is not a mapping")
    raise protocol.EngineError(f"{where} has no {section[:-1]} named {name!r}")


def _check_tls(cluster: Mapping[str, Any], *, server: str, where: str, allow_insecure: bool) -> None:
    if cluster.get("insecure-skip-tls-verify") is True and not allow_insecure:
        raise protocol.EngineError(
            f"{where} sets insecure-skip-tls-verify; refused unless the cluster allows insecure TLS "
            "(allow_insecure_tls)"
        )
    parsed = urllib.parse.urlsplit(server)
    if parsed.scheme not in ("https", "http"):
        raise protocol.EngineError(f"{where}: server must be an https:// URL")
    if parsed.scheme == "http" and not _loopback(parsed.hostname or "") and not allow_insecure:
        raise protocol.EngineError(
            f"{where}: plain http:// is only allowed on loopback (kubectl proxy) unless the cluster "
            "allows insecure TLS (allow_insecure_tls)"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_user(user: Mapping[str, Any], *, where: str, allow_exec: bool) -> None:
    if user.get("exec") is not None and not allow_exec:
        raise protocol.EngineError(
            f"{where} uses an exec credential plugin; refused unless the cluster allows exec credentials "
            "(allow_exec_credentials)"
        )
    if user.get("auth-provider") is not None:
        raise protocol.EngineError(
            f"{where} uses an auth-provider, which is not supported; use a token or exec"
        )
