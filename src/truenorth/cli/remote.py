"""The CLI against a running controller: ``sync``, ``approve``, ``rollback``, and remote status/history.

``truenorth sync STACK --server URL`` (token from ``--token`` or ``TRUENORTH_TOKEN``)
asks the controller's API to act and prints the run it queued; ``--wait`` follows the
run's log until it ends and exits 1 if it failed. These actions need a running
controller: without ``--server`` they say so (locally, ``truenorth apply`` is the way).
With ``--repo`` they act on the local data dir instead, and refuse while a controller
holds it (:mod:`truenorth.controller.runs.ownership`).
:func:`remote_status` and :func:`remote_history` let ``status`` and ``history`` read
from a server instead of the local store; :func:`print_status` and
:func:`print_history` render what they return.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from truenorth.cli import tables
from truenorth.controller.local import approving
from truenorth.controller.runs import layout, ownership, runtime
from truenorth.core import redaction
from truenorth.git import errors as git_errors
from truenorth.store import errors as store_errors

__all__ = [
    "ApiClient",
    "RemoteError",
    "ServerOption",
    "TokenOption",
    "print_history",
    "print_status",
    "register",
    "remote_history",
    "remote_status",
]

_FINISHED = {"succeeded", "failed", "partial", "interrupted", "cancelled", "skipped"}
_console = tables.console()
_err = tables.console(stderr=True)


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


def print_status(console: Console, status: dict[str, Any]) -> None:
    """The ``status`` table for what :func:`remote_status` returns, then every source error.

    Errors are shown in full: the table wraps them rather than cutting them to a line.
    """
    stacks: list[dict[str, Any]] = status.get("stacks") or []
    if not stacks:
        console.print("The controller tracks no stacks yet.")
    else:
        _stack_table(console, stacks)
    for item in status.get("source_errors") or []:
        line = Text(f"repository {item.get('repository')}: ", style="bold red")
        line.append(str(item.get("source_error") or ""))
        console.print(line)


def _stack_table(console: Console, stacks: list[dict[str, Any]]) -> None:
    table = Table("repository", "stack", "engine", "sync", "health", "applied revision", "last run", "error")
    for item in stacks:
        last = item.get("last_run") or {}
        table.add_row(
            Text(str(item["repository"])),
            Text(str(item["name"])),
            Text(str(item["engine"])),
            Text(str(item["sync_state"])),
            Text(str(item["health"]) + (" (drift)" if item.get("drift") else "")),
            Text(item.get("applied_revision") or "-"),
            Text(f"{last.get('kind', '')} {last.get('status', '')}".strip() or "-"),
            Text(str(item.get("error") or "")),
        )
    console.print(table)


def print_history(console: Console, runs: list[dict[str, Any]]) -> None:
    """The ``history`` table for runs from :func:`remote_history` (errors in full)."""
    table = Table("id", "stack", "kind", "status", "revision", "started", "actor", "error")
    for run in runs:
        table.add_row(
            Text(str(run["id"])),
            Text(str(run["stack"])),
            Text(str(run["kind"])),
            Text(str(run["status"])),
            Text(str(run["revision"])[:12]),
            Text(str(run["started_at"])[:19].replace("T", " ")),
            Text(run.get("actor") or ""),
            Text(str(run.get("error") or "")),
        )
    console.print(table)


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server", envvar="TRUENORTH_SERVER", help="URL of a running controller (truenorth serve)."
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="TRUENORTH_TOKEN", help="API token (default: TRUENORTH_TOKEN).", show_default=False
    ),
]
RepositoryOption = Annotated[
    str | None, typer.Option("--repository", help="Repository name, when stack names repeat.")
]
WaitOption = Annotated[bool, typer.Option("--wait", help="Follow the run's log until it ends.")]
LocalRepoOption = Annotated[
    str | None,
    typer.Option(
        "--repo", help="Without --server: act on this repository (path or URL) in the local data dir."
    ),
]
LocalBranchOption = Annotated[
    str | None,
    typer.Option(
        "--branch",
        help="Without --server: the branch of --repo whose records to use (default: its default branch).",
    ),
]
LocalDataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Without --server: the local data dir (env TRUENORTH_DATA_DIR)."),
]
LocalStoreOption = Annotated[
    str | None, typer.Option("--store", envvar="TRUENORTH_STORE_URL", help="Without --server: database URL.")
]


def register(app: typer.Typer) -> None:
    """Add ``sync``, ``approve`` and ``rollback`` to ``app``."""

    @app.command("sync")
    def sync(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        server: ServerOption = None,
        token: TokenOption = None,
        repository: RepositoryOption = None,
        wait: WaitOption = False,
        repo: LocalRepoOption = None,
        branch: LocalBranchOption = None,
        data_dir: LocalDataDirOption = None,
        store: LocalStoreOption = None,
    ) -> None:
        """Apply a stack's stored plan: on a running controller (operator role), or locally with --repo."""
        if not server and repo:
            _local("sync", stack, repo=repo, branch=branch, data_dir=data_dir, store=store)
            return
        _act("sync", stack, server=server, token=token, repository=repository, wait=wait)

    @app.command("approve")
    def approve(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        server: ServerOption = None,
        token: TokenOption = None,
        repository: RepositoryOption = None,
        wait: WaitOption = False,
        repo: LocalRepoOption = None,
        branch: LocalBranchOption = None,
        data_dir: LocalDataDirOption = None,
        store: LocalStoreOption = None,
    ) -> None:
        """Approve and apply a plan held for approval (operator role), or locally with --repo."""
        if not server and repo:
            _local("approve", stack, repo=repo, branch=branch, data_dir=data_dir, store=store)
            return
        _act("approve", stack, server=server, token=token, repository=repository, wait=wait)

    @app.command("rollback")
    def rollback(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        revision: Annotated[str, typer.Option("--revision", help="An earlier applied revision (SHA).")],
        reason: Annotated[str, typer.Option("--reason", help="Why: recorded with the run.")],
        server: ServerOption = None,
        token: TokenOption = None,
        repository: RepositoryOption = None,
        wait: WaitOption = False,
        repo: LocalRepoOption = None,
        branch: LocalBranchOption = None,
        data_dir: LocalDataDirOption = None,
        store: LocalStoreOption = None,
    ) -> None:
        """Deploy an earlier applied revision of a stack (admin role); who and why are recorded."""
        if not reason.strip():
            _fail("--reason must not be empty")
        if not server and repo:
            _local(
                "rollback",
                stack,
                repo=repo,
                branch=branch,
                data_dir=data_dir,
                store=store,
                revision=revision,
                reason=reason,
            )
            return
        _act(
            "rollback",
            stack,
            server=server,
            token=token,
            repository=repository,
            wait=wait,
            body={"revision": revision, "reason": reason},
        )


def _act(
    action: str,
    stack: str,
    *,
    server: str | None,
    token: str | None,
    repository: str | None,
    wait: bool,
    body: dict[str, str] | None = None,
) -> None:
    if not server:
        _fail(
            f"`truenorth {action}` needs --server URL (a running controller, `truenorth serve`) "
            "or --repo REPO (the local data dir)"
        )
    token = token or os.environ.get("TRUENORTH_TOKEN")
    try:
        with ApiClient(server, token) as client:
            run_id = int(
                client.post(f"/stacks/{quote(stack, safe='')}/{action}", body=body, repository=repository)[
                    "run_id"
                ]
            )
            _console.print(f"{action} of {stack} queued as run {run_id}")
            if wait:
                status = _follow(client, run_id)
                _console.print(f"run {run_id}: {status}")
                if status not in ("succeeded",):
                    raise typer.Exit(1)
    except RemoteError as exc:
        _fail(str(exc))


def _local(
    action: str,
    stack: str,
    *,
    repo: str,
    branch: str | None,
    data_dir: Path | None,
    store: str | None,
    revision: str = "",
    reason: str = "",
) -> None:
    """Do ``action`` on the local data dir, as ``truenorth plan``/``apply`` would."""
    actor = f"local:{getpass.getuser()}"
    root = layout.data_dir_from_env(data_dir)
    held = contextlib.ExitStack()
    try:
        held.enter_context(ownership.private_files())
        held.enter_context(ownership.share(root, command=f"truenorth {action} --repo"))
        rt = runtime.open_runtime(root, store_url=store)
    except ownership.DataDirBusy as exc:
        held.close()
        _fail(str(exc))
    except (store_errors.StoreError, OSError) as exc:
        held.close()
        _fail(f"cannot open the local data dir: {exc}")
    try:
        if action == "rollback":
            outcome = approving.roll_back(
                rt, repo, stack, revision=revision, actor=actor, reason=reason, branch=branch
            )
        else:
            outcome = approving.apply_stored_plan(rt, repo, stack, actor=actor, branch=branch)
    except (approving.ActionError, git_errors.GitError) as exc:
        _fail(str(exc))
    finally:
        rt.close()
        held.close()
    result = outcome.result
    _console.print(Text(f"{action} of {stack}: run {outcome.run_id} {result.status.value}"))
    if result.error:
        _err.print(Text(result.error))
    if not result.ok:
        raise typer.Exit(1)


def _follow(client: ApiClient, run_id: int, *, interval: float = 0.5) -> str:
    after = 0
    while True:
        log = client.get(f"/runs/{run_id}/log", after=after)
        for line in log["lines"]:
            sys.stdout.write(tables.terminal_safe(str(line["line"])) + "\n")
        sys.stdout.flush()
        after = log["next_after"]
        if log["finished"] and not log["lines"]:
            return str(client.get(f"/runs/{run_id}")["status"])
        if not log["lines"]:
            time.sleep(interval)


def _fail(message: str) -> NoReturn:
    _err.print(Text(f"Error: {message}", style="red"))
    raise typer.Exit(1)
