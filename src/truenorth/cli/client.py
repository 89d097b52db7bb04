"""The CLI's HTTP client of a running controller's API: the only place the CLI uses httpx.

``truenorth status|history|sync|approve|rollback --server URL`` talk to ``/api/v1``
through :class:`ApiClient` (bearer token from ``--token`` or ``TRUENORTH_TOKEN``).
Whatever goes wrong (the server cannot be reached, refuses, answers an error) becomes a
:class:`RemoteError` whose message is for the user, with the token masked and a hint
for 401 and 403. :func:`remote_status` and :func:`remote_history` read every page a
command needs; :func:`follow_run` tails a run's log until it ends. Nothing here prints:
the commands (:mod:`truenorth.cli.remote`, :mod:`truenorth.cli.main`) do.
An import-linter contract keeps httpx here (and the Kubernetes client's lightkube in
``engines/kubernetes/client.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from truenorth.core import redaction

__all__ = ["FOLLOW_INTERVAL", "ApiClient", "RemoteError", "follow_run", "remote_history", "remote_status"]

#: How long :func:`follow_run` waits before asking again when a run's log has no new line.
FOLLOW_INTERVAL = 0.5


class RemoteError(Exception):
    """The server could not be reached or refused; the message is for the user."""


class ApiClient:
    """A thin client of ``/api/v1`` with bearer-token auth and readable errors."""

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = server.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise RemoteError(
                f"--server must be an http(s) URL, got {redaction.redact_url_credentials(server)!r}"
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._redact = redaction.Redactor([token] if token else [])
        self._client = httpx.Client(
            base_url=f"{base}/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, *, body: Any = None, **params: Any) -> Any:
        return self._call("POST", path, json=body, params={k: v for k, v in params.items() if v is not None})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(self._redact(f"cannot reach the server: {exc}")) from None
        if response.status_code < 400:
            return response.json()
        try:
            detail = str(response.json().get("detail", ""))
        except (ValueError, AttributeError):
            detail = response.text[:200]
        hint = {
            401: " (give a valid token with --token or TRUENORTH_TOKEN)",
            403: " (your token's role does not allow this)",
        }.get(response.status_code, "")
        raise RemoteError(self._redact(f"server answered {response.status_code}: {detail}{hint}"))


def remote_status(server: str, token: str | None) -> dict[str, Any]:
    """``{"stacks", "source_errors"}``: every stack the server knows, as the API returns them
    (all pages), and the repositories whose source is in error (a refused ``truenorth.yaml``
    shows there even before its repository has a stack)."""
    with ApiClient(server, token) as client:
        items: list[dict[str, Any]] = []
        source_errors: list[dict[str, Any]] | None = None
        while True:
            page = client.get("/stacks", limit=500, offset=len(items))
            if source_errors is None:
                source_errors = list(page.get("source_errors") or [])
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return {"stacks": items, "source_errors": source_errors}


def remote_history(server: str, token: str | None, stack: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs (of ``stack``), newest first, as the API returns them."""
    with ApiClient(server, token) as client:
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = client.get("/runs", stack=stack, limit=min(500, limit - len(items)), offset=len(items))
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                break
        return items


def follow_run(
    client: ApiClient,
    run_id: int,
    *,
    on_line: Callable[[str], None],
    interval: float = FOLLOW_INTERVAL,
) -> str:
    """Hand each line of run ``run_id``'s log to ``on_line`` until the run ends; its final status."""
    after = 0
    while True:
        log = client.get(f"/runs/{run_id}/log", after=after)
        for line in log["lines"]:
            on_line(str(line["line"]))
        after = log["next_after"]
        if log["finished"] and not log["lines"]:
            return str(client.get(f"/runs/{run_id}")["status"])
        if not log["lines"]:
            time.sleep(interval)
