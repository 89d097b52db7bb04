"""The CLI's HTTP client of a running controller's API: the only place the CLI uses httpx.

``truenorth status|history|outputs|sync|approve|rollback --server URL`` talk to ``/api/v1``
through :class:`ApiClient` (bearer token from ``--token`` or ``TRUENORTH_TOKEN``).
Whatever goes wrong (the server cannot be reached, refuses, answers an error) becomes a
:class:`RemoteError` whose message is for the user, with the token masked and a hint
for 401 and 403. :func:`remote_status` and :func:`remote_history` read every page a
command needs; :func:`follow_run` tails a run's log until it ends, through the server-sent
log stream (resumed with ``Last-Event-ID`` when the connection breaks). Nothing here prints:
the commands (:mod:`truenorth.cli.remote`, :mod:`truenorth.cli.main`) do.
An import-linter contract keeps httpx here (and the Kubernetes client's lightkube in
``engines/kubernetes/client.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from truenorth.core import redaction

__all__ = [
    "FOLLOW_ATTEMPTS",
    "FOLLOW_RETRY",
    "ApiClient",
    "RemoteError",
    "follow_run",
    "remote_history",
    "remote_outputs",
    "remote_status",
]

#: Seconds :func:`follow_run` waits before opening a broken log stream again, unless the
#: server said otherwise (the stream's ``retry:`` field, at most :data:`MAX_RETRY`).
FOLLOW_RETRY = 3.0
MAX_RETRY = 30.0
#: Breaks in a row, with no new line between them, after which :func:`follow_run` gives up.
FOLLOW_ATTEMPTS = 5
#: Seconds a log stream may stay silent (the server sends a comment every 15 s) before it
#: counts as broken.
STREAM_READ_TIMEOUT = 60.0
#: The longest line of a server-sent event read (the server sends at most 1 MiB of log
#: lines per event); past it the stream is refused.
MAX_EVENT_LINE = 4 * 1024 * 1024


class RemoteError(Exception):
    """The server could not be reached or refused; the message is for the user."""


class BrokenStreamError(RemoteError):
    """An event stream ended or broke before its last event; it may be opened again."""


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
        self._timeout = timeout
        #: Seconds to wait before opening a broken event stream again, as the server last said.
        self.retry = FOLLOW_RETRY
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

    def events(self, path: str, *, last_event_id: int = 0) -> Iterator[tuple[str, Any]]:
        """The server-sent events of ``path``, each ``(name, its JSON data)``, as they arrive.

        ``last_event_id`` (when not 0) goes in ``Last-Event-ID``: the server goes on after it.
        An error answer is a :class:`RemoteError`; a connection that breaks, or a stream that
        ends, is a :class:`BrokenStreamError` (the caller decides whether it was done).
        """
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(self._timeout, read=max(self._timeout, STREAM_READ_TIMEOUT))
        try:
            with self._client.stream("GET", path, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                name = "message"
                data: list[str] = []
                for line in response.iter_lines():
                    if len(line) > MAX_EVENT_LINE:
                        raise RemoteError(f"the server sent an event line of over {MAX_EVENT_LINE} bytes")
                    if not line:
                        if data:
                            yield name, json.loads("\n".join(data))
                        name, data = "message", []
                    elif not line.startswith(":"):
                        field, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if field == "event":
                            name = value
                        elif field == "data":
                            data.append(value)
                        elif field == "retry" and value.isdigit() and len(value) < 9:
                            self.retry = min(int(value) / 1000, MAX_RETRY)
        except httpx.HTTPError as exc:
            raise BrokenStreamError(self._redact(f"the event stream broke: {exc}")) from None
        except ValueError:
            raise RemoteError("the server sent an event that is not JSON") from None
        raise BrokenStreamError("the event stream ended early")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(self._redact(f"cannot reach the server: {exc}")) from None
        if response.status_code < 400:
            return response.json()
        raise self._error(response)

    def _error(self, response: httpx.Response) -> RemoteError:
        try:
            detail = str(response.json().get("detail", ""))
        except (ValueError, AttributeError):
            detail = response.text[:200]
        hint = {
            401: " (give a valid token with --token or TRUENORTH_TOKEN)",
            403: " (your token's role does not allow this)",
        }.get(response.status_code, "")
        return RemoteError(self._redact(f"server answered {response.status_code}: {detail}{hint}"))


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


def remote_outputs(server: str, token: str | None, stack: str, repository: str | None) -> dict[str, Any]:
    """``{"repository", "stack", "outputs"}``: the stack's recorded outputs, sensitive ones masked."""
    with ApiClient(server, token) as client:
        found: dict[str, Any] = client.get(f"/stacks/{quote(stack, safe='')}/outputs", repository=repository)
        return found


def remote_history(server: str, token: str | None, stack: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs (of ``stack``), newest first, as the API returns them.

    An unknown ``stack`` is an error (the runs filter alone would answer an empty list).
    """
    with ApiClient(server, token) as client:
        if stack is not None:
            named = client.get("/stacks", q=stack, limit=500)["items"]
            if not any(item.get("name") == stack for item in named):
                raise RemoteError(f"no stack named {stack!r} on the server (see `truenorth status --server`)")
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
    retry: float | None = None,
    attempts: int = FOLLOW_ATTEMPTS,
) -> str:
    """Hand each line of run ``run_id``'s log to ``on_line`` until the run ends; its final status.

    The lines come from the server-sent log stream (``GET /runs/{id}/log/stream``) as the
    run writes them, not from polling. A stream that breaks before its ``end`` event (a
    proxy's timeout, a restarting server) is opened again after ``retry`` seconds (default:
    what the server asked for) with ``Last-Event-ID`` = the last line received, so no line is lost or printed twice;
    ``attempts`` breaks in a row without a new line end it with a :class:`RemoteError`.
    """
    after = 0
    broken = 0
    while True:
        try:
            for name, data in client.events(f"/runs/{run_id}/log/stream", last_event_id=after):
                if name == "lines":
                    for line in data["lines"]:
                        on_line(str(line["line"]))
                    after = int(data["next_after"])
                    broken = 0
                elif name == "end":
                    return str(client.get(f"/runs/{run_id}")["status"])
        except BrokenStreamError as exc:
            broken += 1
            if broken >= attempts:
                raise RemoteError(f"cannot follow run {run_id}: {exc} ({attempts} times in a row)") from None
        time.sleep(client.retry if retry is None else retry)
