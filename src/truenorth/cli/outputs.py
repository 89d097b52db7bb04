"""``truenorth outputs STACK``: the outputs a stack's last successful apply recorded.

What other stacks read through ``inputs:``. With ``--server URL`` it asks a running
controller (``GET /api/v1/stacks/{name}/outputs``, the viewer role); with ``--repo REPO``
it reads the local data dir's store (the records of REPO's ``--branch``, default its
default branch), taking no lock: it only reads. A sensitive value is never printed:
it shows as ``(sensitive value)`` in the table and in ``-o json`` (its value is kept
sealed in the store, and neither path unseals it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from truenorth.cli import remote, tables
from truenorth.core import outputs as stack_outputs
from truenorth.core import redaction

# The HTTP client, the store and git are imported by the path that uses them (issue 16:
# start-up is part of every command; ``tests/cli/test_imports.py``).

__all__ = ["register"]

_console = tables.console()
_err = tables.console(stderr=True)

#: ``-o json``'s document version (``docs/output-json.md``).
FORMAT_VERSION = "1"


def register(app: typer.Typer) -> None:
    """Add ``outputs`` to ``app``."""

    @app.command("outputs")
    def outputs(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        server: remote.ServerOption = None,
        token: remote.TokenOption = None,
        repository: Annotated[
            str | None,
            typer.Option("--repository", help="With --server: repository name, when names repeat."),
        ] = None,
        repo: Annotated[
            str | None, typer.Option("--repo", help="Without --server: the repository (path or URL).")
        ] = None,
        branch: Annotated[
            str | None,
            typer.Option("--branch", help="Without --server: the branch of --repo (default: its default)."),
        ] = None,
        output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Without --server: the local data dir (env TRUENORTH_DATA_DIR)."),
        ] = None,
        store: Annotated[
            str | None,
            typer.Option("--store", envvar="TRUENORTH_STORE_URL", help="Without --server: database URL."),
        ] = None,
    ) -> None:
        """Show a stack's outputs (what other stacks read with inputs:); sensitive ones masked."""
        if output not in ("text", "json"):
            _fail(f"-o must be text or json, not {output[:20]!r}")
        if server:
            from truenorth.cli import client

            try:
                found = client.remote_outputs(server, token, stack, repository)
            except client.RemoteError as exc:
                _fail(str(exc))
            document = _document(
                repository=str(found.get("repository", "")),
                stack=stack,
                items=[_shown(item) for item in found.get("outputs") or ()],
            )
        elif repo:
            document = _local(stack, repo=repo, branch=branch, data_dir=data_dir, store=store)
        else:
            _fail(
                "`truenorth outputs` needs --server URL (a running controller) or --repo REPO (the local data dir)"
            )
        if output == "json":
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
            return
        _print(document)


def _local(
    stack: str, *, repo: str, branch: str | None, data_dir: Path | None, store: str | None
) -> dict[str, Any]:
    """The document for ``stack`` of (``repo``, ``branch``) from the local data dir's store."""
    from truenorth.controller import errors as controller_errors
    from truenorth.controller.runs import layout, runtime
    from truenorth.git import errors as git_errors
    from truenorth.git import urls

    root = layout.data_dir_from_env(data_dir)
    try:
        with controller_errors.store_unavailable():
            rt = runtime.open_runtime(root, store_url=store)
    except controller_errors.ControllerError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"cannot use data dir {root}: {exc.strerror or exc}")
    try:
        with controller_errors.store_unavailable():
            key = rt.sources.key(repo, branch=branch)
            if rt.store.get_stack(repository=key, name=stack) is None:
                _fail(f"no stack {stack!r} is recorded for {urls.split_key(key)[0]} ({urls.branch_of(key)})")
            records = rt.store.stack_outputs(repository=key, stacks=[stack]).get(stack, ())
    except (git_errors.GitError, controller_errors.ControllerError) as exc:
        _fail(str(exc))
    finally:
        rt.close()
    location, name = urls.split_key(key)
    items = [
        _shown(
            {
                "name": record.name,
                "value": None if record.sensitive else record.value,
                "sensitive": record.sensitive,
                "revision": record.revision,
            }
        )
        for record in sorted(records, key=lambda record: record.name)
    ]
    return _document(repository=f"{location}#{name}" if name else location, stack=stack, items=items)


def _shown(item: Any) -> dict[str, Any]:
    """One output as shown: a sensitive value masked, whatever the source said."""
    sensitive = bool(item.get("sensitive", False))
    return {
        "name": str(item.get("name", "")),
        "value": stack_outputs.MASK if sensitive else item.get("value"),
        "sensitive": sensitive,
        "revision": item.get("revision"),
    }


def _document(*, repository: str, stack: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "repository": repository, "stack": stack, "outputs": items}


def _print(document: dict[str, Any]) -> None:
    items = document["outputs"]
    if not items:
        _console.print(Text(f"Stack {document['stack']} has no recorded outputs (it was never applied?)."))
        return
    table = Table("name", "value", "sensitive", "revision")
    for item in items:
        shown = stack_outputs.MASK if item["sensitive"] else tables.format_value(item["value"])
        table.add_row(
            Text(item["name"]),
            Text(shown),
            Text("yes" if item["sensitive"] else "no"),
            Text(str(item.get("revision") or "-")[:12]),
        )
    _console.print(table)


def _fail(message: str) -> NoReturn:
    _err.print(Text(f"Error: {redaction.redact_url_credentials(message)}", style="red"))
    raise typer.Exit(1)
