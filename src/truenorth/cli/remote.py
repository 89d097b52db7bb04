"""The CLI against a running controller (``--server URL``): act, follow, and print what it says.

``truenorth sync|approve|rollback STACK --server URL`` (token from ``--token`` or
``TRUENORTH_TOKEN``) asks the controller's API to act and prints the run it queued;
``--wait`` follows the run's log until it ends and exits 1 unless it succeeded.
``truenorth status|history --server URL`` read the controller's records through
:mod:`truenorth.cli.client`, and :func:`print_status` / :func:`print_history` render
what they return. The HTTP itself lives in :mod:`truenorth.cli.client`; the commands are
declared in :mod:`truenorth.cli.actions` (sync, approve, rollback) and
:mod:`truenorth.cli.main` (status, history).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from truenorth.cli import tables

__all__ = ["ServerOption", "TokenOption", "act", "print_history", "print_status"]

_console = tables.console()
_err = tables.console(stderr=True)

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


def act(
    action: str,
    stack: str,
    *,
    server: str,
    token: str | None,
    repository: str | None,
    wait: bool,
    body: dict[str, str] | None = None,
) -> None:
    """Ask the controller at ``server`` to do ``action`` on ``stack``; with ``wait``, follow the run."""
    from truenorth.cli import client  # httpx: only the commands that talk HTTP import it

    try:
        with client.ApiClient(server, token) as api:
            answer = api.post(f"/stacks/{quote(stack, safe='')}/{action}", body=body, repository=repository)
            run_id = int(answer["run_id"])
            _console.print(f"{action} of {stack} queued as run {run_id}")
            if wait:
                status = client.follow_run(api, run_id, on_line=_write_line)
                _console.print(f"run {run_id}: {status}")
                if status != "succeeded":
                    raise typer.Exit(1)
    except client.RemoteError as exc:
        _fail(str(exc))


def print_status(console: Console, status: dict[str, Any]) -> None:
    """The ``status`` table for what :func:`client.remote_status` returns, then every source error.

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


def print_history(console: Console, runs: list[dict[str, Any]]) -> None:
    """The ``history`` table for runs from :func:`client.remote_history` (errors in full)."""
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


def _write_line(line: str) -> None:
    sys.stdout.write(tables.terminal_safe(line) + "\n")
    sys.stdout.flush()


def _fail(message: str) -> NoReturn:
    _err.print(Text(f"Error: {message}", style="red"))
    raise typer.Exit(1)
