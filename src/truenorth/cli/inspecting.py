"""The web UI's other actions as commands against a running controller: refresh, a stored plan, a log.

``truenorth refresh STACK --server URL`` plans the stack again now (operator role) and
prints the run it queued (``--wait`` follows it). ``truenorth plan show STACK --server
URL`` prints the stack's stored plan (pending approval, else the latest), as ``plan``
prints a fresh one (``-o json``: the API's document). ``truenorth logs RUN --server URL``
prints a run's log; ``--follow`` reads the server-sent log stream as the run writes it
(opened again where it stopped if the connection breaks) until the run ends, and exits
1 unless it succeeded. All three need ``--server`` (``TRUENORTH_SERVER``) and a token
(``--token`` or ``TRUENORTH_TOKEN``): without a server there is no stored plan to show
and nothing to refresh (``truenorth plan REPO`` plans locally).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import typer
from rich.text import Text

from truenorth.cli import remote, tables

__all__ = ["register", "show_plan"]

_console = tables.console()
_err = tables.console(stderr=True)

RepositoryOption = Annotated[
    str | None, typer.Option("--repository", help="Repository name, when stack names repeat.")
]


def register(app: typer.Typer) -> None:
    """Add ``refresh`` and ``logs`` to ``app`` (``plan show`` is part of ``plan``)."""

    @app.command("refresh")
    def refresh(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        server: remote.ServerOption = None,
        token: remote.TokenOption = None,
        repository: RepositoryOption = None,
        wait: Annotated[bool, typer.Option("--wait", help="Follow the run's log until it ends.")] = False,
    ) -> None:
        """Plan STACK again now on a running controller (operator); prints the run it queued."""
        remote.act(
            "refresh", stack, server=_server("refresh", server), token=token, repository=repository, wait=wait
        )

    @app.command("logs")
    def logs(
        run: Annotated[int, typer.Argument(help="Run id (as `truenorth history --server` lists).", min=1)],
        follow: Annotated[
            bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")
        ] = False,
        server: remote.ServerOption = None,
        token: remote.TokenOption = None,
    ) -> None:
        """Print run RUN's log from a running controller; --follow streams it until the run ends."""
        from truenorth.cli import client  # httpx: only the commands that talk HTTP import it

        try:
            with client.ApiClient(_server("logs", server), token) as api:
                if follow:
                    status = client.follow_run(api, run, on_line=_write_line)
                    _err.print(Text(f"run {run}: {status}"))
                    if status != "succeeded":
                        raise typer.Exit(1)
                    return
                after = 0
                while True:
                    page = api.get(f"/runs/{run}/log", after=after, limit=10_000)
                    for line in page["lines"]:
                        _write_line(str(line["line"]))
                    if not page["lines"]:
                        return
                    after = page["next_after"]
        except client.RemoteError as exc:
            _fail(str(exc))


def show_plan(
    stack: str | None, *, server: str | None, token: str | None, repository: str | None, as_json: bool
) -> None:
    """``truenorth plan show STACK``: the stack's stored plan as the controller recorded it."""
    from truenorth.cli import client
    from truenorth.core import plans

    if not stack:
        _fail("`truenorth plan show` needs a stack name: truenorth plan show STACK --server URL")
    try:
        with client.ApiClient(_server("plan show", server), token) as api:
            found: dict[str, Any] = api.get(f"/stacks/{quote(stack, safe='')}/plan", repository=repository)
    except client.RemoteError as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2, sort_keys=True) + "\n")
        return
    plan = plans.Plan(
        stack=str(found["stack"]),
        engine="",
        revision=str(found["revision"]),
        changes=tuple(plans.Change.from_dict(item) for item in found.get("changes") or ()),
        summary=plans.PlanSummary.from_dict(found.get("summary") or {}),
    )
    _console.print(
        Text(
            f"Plan of {found['repository']}/{found['stack']} at {plan.revision[:12]} "
            f"(run {found['run_id']}, {found['status']})",
            style="bold",
        )
    )
    if found.get("error"):
        _console.print(Text(str(found["error"]), style="red"))
    tables.print_plan(_console, plan)


def _server(verb: str, server: str | None) -> str:
    if not server:
        _fail(
            f"`truenorth {verb}` needs --server URL (a running controller, `truenorth serve`), "
            "or TRUENORTH_SERVER"
        )
    return server


def _write_line(line: str) -> None:
    sys.stdout.write(tables.terminal_safe(line) + "\n")
    sys.stdout.flush()


def _fail(message: str) -> NoReturn:
    _err.print(Text(f"Error: {message}", style="red"))
    raise typer.Exit(1)
