"""A Kubernetes API test server on 127.0.0.1 that speaks the real REST wire format.

No real kube-apiserver can run on the test machines, and kmock 0.8 is not faithful
where truenorth depends on the API (see ``stack.md``), so this small server stands in:
the real paths (``/api/v1/namespaces/{ns}/configmaps/{name}``,
``/apis/apps/v1/...``, ``.../status``), discovery (``/api``, ``/apis``, ``/version``),
``Status`` objects with the real ``code`` and ``reason`` for errors, JSON bodies with
``Content-Type: application/json``, list items without ``apiVersion``/``kind``, bearer
tokens, and optionally HTTPS with a throwaway CA. lightkube is the real client and
the engine drives it through an ordinary kubeconfig file.

Not implemented (answered honestly with 405/415): watch, deletecollection, JSON patch.
Strategic merge patch is treated as a JSON merge patch. Pagination is ignored.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support.kubeapi import resources, selectors
from tests.support.kubeapi.behaviours import ApiFailure
from tests.support.kubeapi.store import Store

__all__ = ["KubeAPIServer", "Recorded"]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: bytes = b""


@dataclass
class _Injection:
    method: str
    plural: str
    name: str | None
    code: int
    reason: str
    message: str
    times: int
    collection: bool = False


@dataclass
class _Route:
    kind: resources.Kind
    namespace: str
    name: str | None
    subresource: str


class KubeAPIServer:
    """Start with ``with KubeAPIServer() as api:``; ``api.kubeconfig(path)`` writes a kubeconfig."""

    def __init__(
        self,
        *,
        token: str | None = "test-token-0123456789",
        tls_dir: Path | None = None,
        controllers: bool = True,
        crd_established_after_reads: int = 0,
    ) -> None:
        self.token = token
        self.store = Store(controllers=controllers, crd_established_after_reads=crd_established_after_reads)
        self.requests: list[Recorded] = []
        self._injections: list[_Injection] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.api = self  # type: ignore[attr-defined]
        self.ca_file: Path | None = None
        if tls_dir is not None:
            self.ca_file = _self_signed(tls_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.ca_file, tls_dir / "key.pem")
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="kubeapi", daemon=True
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        scheme = "https" if self.ca_file else "http"
        return f"{scheme}://{host!s}:{port}"

    def start(self) -> KubeAPIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *args: object) -> None:
        self.stop()

    def kubeconfig(
        self,
        path: Path,
        *,
        namespace: str | None = None,
        user: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
    ) -> Path:
        cluster_entry: dict[str, Any] = {"server": self.url}
        if self.ca_file is not None:
            cluster_entry["certificate-authority"] = str(self.ca_file)
        cluster_entry.update(cluster or {})
        context: dict[str, Any] = {"cluster": "test", "user": "test"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": cluster_entry}],
            "contexts": [{"name": "test", "context": context}],
            "users": [
                {
                    "name": "test",
                    "user": user if user is not None else ({"token": self.token} if self.token else {}),
                }
            ],
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ test helpers

    def kind(self, api_version: str, kind: str) -> resources.Kind:
        group, _, version = api_version.rpartition("/")
        for served in self.store.served():
            if (served.group, served.version, served.kind) == (group, version, kind):
                return served
        raise KeyError(f"{api_version} {kind} is not served")

    def object(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        with self.store.lock:
            try:
                return self.store.get(self.kind(api_version, kind), namespace, name)
            except ApiFailure:
                return None

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.store.lock:
            return self.store.list(self.kind(api_version, kind), namespace, matches=lambda obj: True)

    def seed(self, obj: dict[str, Any], *, manager: str = "kubectl-client-side-apply") -> dict[str, Any]:
        """Create an object as another client would (an Update operation, not truenorth's)."""
        kind = self.kind(obj["apiVersion"], obj["kind"])
        with self.store.lock:
            namespace = obj.get("metadata", {}).get("namespace", "default") if kind.namespaced else ""
            return self.store.create(
                kind, namespace, json.loads(json.dumps(obj)), manager=manager, dry_run=False
            )

    def edit(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: dict[str, Any],
        *,
        namespace: str = "",
        manager: str = "kubectl-edit",
    ) -> dict[str, Any]:
        """Change a live object out of band (drift), as ``kubectl edit`` would."""
        with self.store.lock:
            return self.store.merge_patch(
                self.kind(api_version, kind), namespace, name, patch, manager=manager, dry_run=False
            )

    def set_status(
        self, api_version: str, kind: str, name: str, status: dict[str, Any], *, namespace: str = ""
    ) -> None:
        with self.store.lock:
            self.store.replace_status(
                self.kind(api_version, kind), namespace, name, {"status": status}, manager="test-controller"
            )

    def pause(self, kind: str) -> None:
        """Stop simulating the controller of ``kind``: its objects keep whatever status they get."""
        self.store.paused.add(kind)

    def fail_runs(self, kind: str, name: str) -> None:
        """Make the simulated run of the Job (or run-to-completion Pod) ``name`` fail."""
        self.store.failing.add((kind, name))

    def inject(
        self,
        *,
        method: str,
        plural: str,
        name: str | None = None,
        code: int = 500,
        reason: str = "InternalError",
        message: str = "injected failure",
        times: int = 1,
        collection: bool = False,
    ) -> None:
        """Fail the next ``times`` matching requests; ``collection`` matches only list/create calls."""
        self._injections.append(
            _Injection(method.upper(), plural, name, code, reason, message, times, collection)
        )

    def writes(self) -> Iterator[Recorded]:
        return (r for r in list(self.requests) if r.method in ("POST", "PUT", "PATCH", "DELETE"))

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parsed = urllib.parse.urlsplit(raw_path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        content_type = headers.get("content-type", "").split(";")[0].strip()
        self.requests.append(Recorded(method, parsed.path, query, content_type, body))
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, ApiFailure(401, "Unauthorized", "Unauthorized").status()
        try:
            with self.store.lock:
                return self._route(method, parsed.path.rstrip("/") or "/", query, content_type, body)
        except ApiFailure as failure:
            return failure.code, failure.status()
        except selectors.SelectorError as exc:
            return 400, ApiFailure(400, "BadRequest", str(exc)).status()
        except Exception as exc:  # a bug in the test server: answer like an apiserver panic would
            return 500, ApiFailure(
                500, "InternalError", f"test server error: {type(exc).__name__}: {exc}"
            ).status()

    def _route(
        self, method: str, path: str, query: dict[str, str], content_type: str, body: bytes
    ) -> tuple[int, Any]:
        served = self.store.served()
        if method == "GET":
            discovery = self._discovery(path, served)
            if discovery is not None:
                return 200, discovery
        route = self._parse(path)
        for injection in self._injections:
            if (
                injection.times > 0
                and injection.method == method
                and injection.plural == route.kind.plural
                and injection.name in (None, route.name)
                and not (injection.collection and route.name is not None)
            ):
                injection.times -= 1
                raise ApiFailure(injection.code, injection.reason, injection.message)
        dry_run = query.get("dryRun", "") == "All"
        if query.get("dryRun") not in (None, "All"):
            raise ApiFailure(400, "BadRequest", f"unsupported dry run value: {query['dryRun']}")
        manager = query.get("fieldManager", "")
        kind, namespace, name = route.kind, route.namespace, route.name
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                raise ApiFailure(405, "MethodNotAllowed", "watch is not supported by this test server")
            if name is not None:
                return 200, self.store.get(kind, namespace, name)
            labels = selectors.label_selector(query["labelSelector"]) if query.get("labelSelector") else None
            fields = selectors.field_selector(query["fieldSelector"]) if query.get("fieldSelector") else None
            items = self.store.list(
                kind,
                namespace or None,
                matches=lambda obj: (labels is None or labels(obj)) and (fields is None or fields(obj)),
            )
            return 200, {
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": self.store.resource_version()},
                "items": items,
            }
        if method == "POST" and name is None:
            return 201, self.store.create(
                kind, namespace, _json(body), manager=manager or "unknown", dry_run=dry_run
            )
        if name is None:
            raise ApiFailure(
                405, "MethodNotAllowed", f"{method} on a collection is not supported by this test server"
            )
        if method == "PUT":
            if route.subresource == "status":
                return 200, self.store.replace_status(
                    kind, namespace, name, _json(body), manager=manager or "unknown"
                )
            return 200, self.store.replace(
                kind, namespace, name, _json(body), manager=manager or "unknown", dry_run=dry_run
            )
        if method == "PATCH":
            if content_type == "application/apply-patch+yaml":
                if route.subresource:
                    raise ApiFailure(
                        415,
                        "UnsupportedMediaType",
                        "apply on subresources is not supported by this test server",
                    )
                force = query.get("force", "false") == "true"
                return self.store.apply(
                    kind, namespace, name, _yaml(body), manager=manager, force=force, dry_run=dry_run
                )
            if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                return 200, self.store.merge_patch(
                    kind,
                    namespace,
                    name,
                    _json(body),
                    manager=manager or "unknown",
                    dry_run=dry_run,
                    subresource=route.subresource,
                )
            raise ApiFailure(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml, application/merge-patch+json (got {content_type!r})",
            )
        if method == "DELETE":
            return 200, self.store.delete(kind, namespace, name, dry_run=dry_run)
        raise ApiFailure(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _discovery(self, path: str, served: list[resources.Kind]) -> dict[str, Any] | None:
        host, port = self._httpd.server_address[:2]
        if path == "/version":
            return resources.version_info()
        if path == "/api":
            return resources.api_versions(f"{host!s}:{port}")
        if path == "/apis":
            return resources.api_group_list(served)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            kinds = [k for k in served if k.group == "" and k.version == parts[1]]
            if not kinds:
                raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
            return resources.api_resource_list(parts[1], kinds)
        if parts[0] == "apis" and len(parts) in (2, 3):
            kinds = [k for k in served if k.group == parts[1] and (len(parts) == 2 or k.version == parts[2])]
            if not kinds:
                raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
            if len(parts) == 2:
                return resources.api_group(parts[1], list(dict.fromkeys(k.version for k in kinds)))
            return resources.api_resource_list(f"{parts[1]}/{parts[2]}", kinds)
        return None

    def _parse(self, path: str) -> _Route:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        if rest[0] == "namespaces" and len(rest) >= 3:
            kind = self.store.find(group, version, rest[2])
            if kind is not None and kind.namespaced:
                return _Route(
                    kind, rest[1], rest[3] if len(rest) > 3 else None, rest[4] if len(rest) > 4 else ""
                )
        kind = self.store.find(group, version, rest[0])
        if kind is None or len(rest) > 3:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        if kind.namespaced and name is not None:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        return _Route(kind, "", name, rest[2] if len(rest) > 2 else "")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise ApiFailure(400, "BadRequest", "the body of the request was in an unknown format") from None


def _yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ApiFailure(400, "BadRequest", "error decoding YAML") from None


def _self_signed(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=kubeapi-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK add 40 ms to every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        api: KubeAPIServer = self.server.api  # type: ignore[attr-defined]
        code, payload = api.handle(method, self.path, headers, body)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
