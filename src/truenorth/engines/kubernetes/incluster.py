"""Reaching the cluster truenorth itself runs in, with its pod's service account.

Deployed in Kubernetes (``deploy/kubernetes/``), the controller can apply stacks to
its own cluster without any kubeconfig file: the operator writes
``[clusters.<name>] in_cluster = true`` and stacks name that cluster in ``target:``.
The credentials are the ones Kubernetes mounts into every pod: the service account's
token (a projected, rotating token, read again for every operation), the cluster's CA
and the pod's namespace, in ``/var/run/secrets/kubernetes.io/serviceaccount``; the API
server's address comes from ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``.
What the controller may do is then exactly what its service account's RBAC allows
(``deploy/kubernetes/base/rbac.yaml``).

Only an operator's setting turns this on: a repository cannot reach the controller's
cluster by naming a target, since a target must be a configured cluster. The result is
the same reduced kubeconfig document as a vetted file gives (:mod:`.kubeconfigs`): the
server must be ``https://`` and verified against the mounted CA, never insecure.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from truenorth.engines import protocol

__all__ = ["CONTEXT", "SERVICE_ACCOUNT_DIR", "document", "server_url"]

#: Where Kubernetes mounts a pod's service account credentials.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: The name of the one context of the document built here.
CONTEXT = "in-cluster"
_MAX_FILE_BYTES = 64 * 1024


def server_url(environ: Mapping[str, str]) -> str:
    """``https://HOST:PORT`` of the API server from the pod's environment."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = environ.get("KUBERNETES_SERVICE_PORT", "").strip() or "443"
    if not host:
        raise protocol.EngineError(
            "in-cluster access: KUBERNETES_SERVICE_HOST is not set (is truenorth running in a Kubernetes pod?)"
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise protocol.EngineError(f"in-cluster access: KUBERNETES_SERVICE_PORT {port[:20]!r} is not a port")
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        if not all(part.isalnum() or part in "-." for part in host) or len(host) > 253:
            raise protocol.EngineError(
                "in-cluster access: KUBERNETES_SERVICE_HOST is not a host name"
            ) from None
    return f"https://{host}:{int(port)}"


def document(
    folder: Path = SERVICE_ACCOUNT_DIR, *, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, object], str, str]:
    """A kubeconfig document for the pod's service account, its server and namespace.

    :class:`~truenorth.engines.protocol.EngineError` naming what is missing (never the token).
    """
    server = server_url(os.environ if environ is None else environ)
    token = _read(folder / "token", what="token").strip()
    if not token or any(ch.isspace() for ch in token):
        raise protocol.EngineError(f"in-cluster access: {folder / 'token'} holds no usable token")
    ca = folder / "ca.crt"
    if "BEGIN CERTIFICATE" not in _read(ca, what="CA certificate"):
        raise protocol.EngineError(f"in-cluster access: {ca} holds no certificate")
    namespace = "default"
    if (folder / "namespace").exists():
        namespace = _read(folder / "namespace", what="namespace").strip() or "default"
    config: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": CONTEXT,
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
    }
    return config, server, namespace


def _read(path: Path, *, what: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise protocol.EngineError(
            f"in-cluster access: cannot read the service account's {what} {path}: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None
    if len(data) > _MAX_FILE_BYTES:
        raise protocol.EngineError(f"in-cluster access: {path} is larger than {_MAX_FILE_BYTES} bytes")
    return data.decode("utf-8", "replace")
