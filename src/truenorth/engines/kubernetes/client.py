"""The only module that talks to a Kubernetes API server (through lightkube).

Every object is handled as a plain ``dict``: discovery (``/api/v1``,
``/apis/<group>/<version>``) says which plural and scope a kind has, and a private
lightkube generic resource class is made for it, so built-in and custom kinds go
through one path and nothing is lost to typed models. Writes are server-side apply
with field manager ``truenorth`` and ``force=True`` (truenorth owns what Git declares,
like Argo CD and Flux), optionally as a dry run. API errors become :class:`ClientError`
with the Status ``code`` and ``reason`` and a redacted message; no response body is
ever shown as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import Client, generic_resource
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core import exceptions as lk_exceptions
from lightkube.types import CascadeType

from truenorth.core import redaction
from truenorth.engines.kubernetes import kubeconfigs, objects

__all__ = ["FIELD_MANAGER", "ClientError", "KubeClient", "ResourceType"]

FIELD_MANAGER = objects.FIELD_MANAGER


class ClientError(RuntimeError):
    """An API call failed; ``code`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, *, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ResourceType:
    """What discovery says about one kind in one group version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``group/version`` (``version`` alone for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version


class KubeClient:
    """A connection to one cluster context, for one operation (plan, apply or drift)."""

    def __init__(
        self, access: kubeconfigs.ClusterAccess, *, redactor: redaction.Redactor, timeout: float = 30.0
    ) -> None:
        self._redactor = redactor
        self.access = access
        try:
            config = KubeConfig.from_dict(dict(access.config), fname=access.path).get()
            if config is None:  # pragma: no cover - kubeconfigs.load always sets a context
                raise ClientError("the kubeconfig has no usable context")
            params = client_adapter.ConnectionParams(timeout=httpx2.Timeout(timeout), trust_env=False)
            self._http = client_adapter.Client(config, params)
            self._api = Client(
                config=config,
                namespace=access.namespace,
                timeout=httpx2.Timeout(timeout),
                field_manager=FIELD_MANAGER,
                trust_env=False,
                lazy=False,
            )
        except (lk_exceptions.ConfigError, OSError, ValueError) as exc:
            raise ClientError(self._redactor(f"cannot use kubeconfig {access.path}: {exc}")) from None
        self._discovered: dict[str, dict[str, ResourceType] | None] = {}
        self._classes: dict[ResourceType, type[Any]] = {}

    def close(self) -> None:
        """Release both HTTP connection pools."""
        self._api.close()
        self._http.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    # ------------------------------------------------------------------ discovery

    def resource_type(self, api_version: str, kind: str, *, refresh: bool = False) -> ResourceType | None:
        """The kind's plural and scope, or None when the server does not serve it."""
        if refresh or api_version not in self._discovered:
            self._discovered[api_version] = self._discover(api_version)
        served = self._discovered[api_version]
        return None if served is None else served.get(kind)

    def _discover(self, api_version: str) -> dict[str, ResourceType] | None:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            response = self._http.get(path)
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._status_error(response, doing=f"discover {api_version}")
        try:
            body = response.json()
        except ValueError:
            raise ClientError(
                f"discovery of {api_version} returned no JSON", code=response.status_code
            ) from None
        found: dict[str, ResourceType] = {}
        for entry in body.get("resources", []) if isinstance(body, dict) else []:
            name = entry.get("name", "") if isinstance(entry, dict) else ""
            if not name or "/" in name or not isinstance(entry.get("kind"), str):
                continue
            found[entry["kind"]] = ResourceType(
                group=group,
                version=version,
                kind=entry["kind"],
                plural=name,
                namespaced=bool(entry.get("namespaced")),
            )
        return found

    def _class(self, rtype: ResourceType) -> type[Any]:
        cls = self._classes.get(rtype)
        if cls is None:
            base = (
                generic_resource.GenericNamespacedResource
                if rtype.namespaced
                else generic_resource.GenericGlobalResource
            )
            info = generic_resource.create_api_info(rtype.group, rtype.version, rtype.kind, rtype.plural)
            cls = type(rtype.kind, (base,), {"_api_info": info})
            self._classes[rtype] = cls
        return cls

    # ------------------------------------------------------------------ objects

    def get(self, rtype: ResourceType, ref: objects.ObjectRef) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        cls = self._class(rtype)
        try:
            if rtype.namespaced:
                obj = self._api.get(cls, ref.name, namespace=ref.namespace)
            else:
                obj = self._api.get(cls, ref.name)
        except lk_exceptions.ApiError as exc:
            if exc.status.code == 404:
                return None
            raise self._api_error(exc, doing=f"read {ref.address}") from None
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from None
        return self._plain(obj, rtype)

    def apply(
        self, rtype: ResourceType, manifest: Mapping[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply ``manifest`` (creating it if missing); the object as stored (or as it would be)."""
        ref = objects.ObjectRef.of(manifest)
        cls = self._class(rtype)
        try:
            obj = self._api.apply(
                cls(dict(manifest)), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
            )
        except lk_exceptions.ApiError as exc:
            raise self._api_error(exc, doing=f"apply {ref.address}") from None
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from None
        return self._plain(obj, rtype)

    def delete(self, rtype: ResourceType, ref: objects.ObjectRef) -> bool:
        """Delete the object (dependents in the background); False when it was already gone."""
        cls = self._class(rtype)
        try:
            if rtype.namespaced:
                self._api.delete(cls, ref.name, namespace=ref.namespace, cascade=CascadeType.BACKGROUND)
            else:
                self._api.delete(cls, ref.name, cascade=CascadeType.BACKGROUND)
        except lk_exceptions.ApiError as exc:
            if exc.status.code == 404:
                return False
            raise self._api_error(exc, doing=f"delete {ref.address}") from None
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from None
        return True

    def list(self, rtype: ResourceType, *, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every object of the kind (in all namespaces) matching ``labels``."""
        cls = self._class(rtype)
        try:
            if rtype.namespaced:
                found = self._api.list(cls, namespace="*", labels=dict(labels) if labels else None)
            else:
                found = self._api.list(cls, labels=dict(labels) if labels else None)
            return [self._plain(obj, rtype) for obj in found]
        except lk_exceptions.ApiError as exc:
            raise self._api_error(exc, doing=f"list {rtype.plural}") from None
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from None

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _plain(obj: Any, rtype: ResourceType) -> dict[str, Any]:
        out = dict(obj)
        # List items come without apiVersion and kind on the wire; put them back.
        out.setdefault("apiVersion", rtype.api_version)
        out.setdefault("kind", rtype.kind)
        return out

    def _api_error(self, exc: lk_exceptions.ApiError, *, doing: str) -> ClientError:
        status = exc.status
        code = int(status.code or 0)
        reason = str(status.reason or "")
        message = str(status.message or reason or "no message")
        text = self._redactor(f"cannot {doing}: {message} ({code} {reason})".replace(" ()", ""))
        return ClientError(text, code=code, reason=reason)

    def _status_error(self, response: httpx2.Response, *, doing: str) -> ClientError:
        reason, message = "", ""
        try:
            body = response.json()
            if isinstance(body, dict):
                reason, message = str(body.get("reason", "")), str(body.get("message", ""))
        except ValueError:
            pass
        text = self._redactor(
            f"cannot {doing}: {message or 'HTTP ' + str(response.status_code)} ({response.status_code} {reason})"
        )
        return ClientError(text, code=response.status_code, reason=reason)

    def _unreachable(self, exc: httpx2.HTTPError) -> ClientError:
        if isinstance(exc, httpx2.HTTPStatusError):
            return self._status_error(exc.response, doing="talk to the API server")
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return ClientError(self._redactor(f"cannot reach the API server {self.access.server}: {detail}"))
