"""The commands that act on one stack: ``sync``, ``approve`` and ``rollback``.

Each works two ways, chosen by its options: with ``--server URL`` it asks a running
controller (:mod:`truenorth.cli.remote`, the operator role for ``sync``/``approve``, admin
for ``rollback``); with ``--repo REPO`` and no server it acts on the local data dir
(:mod:`truenorth.cli.local`; ``--config``/``--kubeconfig``/``--context`` give Kubernetes
stacks their cluster, as for ``truenorth apply``). With neither it says so. ``rollback``
needs ``--revision`` and a non-empty ``--reason``, recorded with the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.text import Text

from truenorth.cli import remote, tables

__all__ = ["register"]

_err = tables.console(stderr=True)

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
LocalConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Without --server: the controller's configuration file (its clusters tables: Kubernetes targets).",
    ),
]
LocalKubeconfigOption = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig", help="Without --server: the cluster of a Kubernetes stack (wins over --config)."
    ),
]
LocalContextOption = Annotated[
    str | None, typer.Option("--context", help="With --kubeconfig: the context to use (default: current).")
]


def _apply_stored(
    verb: str,
    stack: str,
    *,
    remote_side: tuple[str | None, str | None, str | None, bool],
    local_side: tuple[str | None, str | None, Path | None, str | None, Path | None, Path | None, str | None],
) -> None:
    """``sync`` and ``approve``: on the server, or with ``--repo`` (and no ``--server``) locally."""
    server, token, repository, wait = remote_side
    repo, branch, data_dir, store, config, kubeconfig, context = local_side
    if not server and repo:
        from truenorth.cli import local  # the store: only the local path imports it

        local.act(
            verb,
            stack,
            repo=repo,
            branch=branch,
            data_dir=data_dir,
            store=store,
            config=config,
            kubeconfig=kubeconfig,
            context=context,
        )
        return
    remote.act(
        verb, stack, server=_server(verb, server), token=_token(token), repository=repository, wait=wait
    )


def register(app: typer.Typer) -> None:
    """Add ``sync``, ``approve`` and ``rollback`` to ``app``."""

    @app.command("sync")
    def sync(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        server: remote.ServerOption = None,
        token: remote.TokenOption = None,
        repository: RepositoryOption = None,
        wait: WaitOption = False,
        repo: LocalRepoOption = None,
        branch: LocalBranchOption = None,
        data_dir: LocalDataDirOption = None,
        store: LocalStoreOption = None,
        config: LocalConfigOption = None,
        kubeconfig: LocalKubeconfigOption = None,
        context: LocalContextOption = None,
    ) -> None:
        """Apply a stack's stored plan: on a running controller (operator role), or locally with --repo."""
        _apply_stored(
            "sync",
            stack,
            remote_side=(server, token, repository, wait),
            local_side=(repo, branch, data_dir, store, config, kubeconfig, context),
        )

    @app.command("approve")
    def approve(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        server: remote.ServerOption = None,
        token: remote.TokenOption = None,
        repository: RepositoryOption = None,
        wait: WaitOption = False,
        repo: LocalRepoOption = None,
        branch: LocalBranchOption = None,
        data_dir: LocalDataDirOption = None,
        store: LocalStoreOption = None,
        config: LocalConfigOption = None,
        kubeconfig: LocalKubeconfigOption = None,
        context: LocalContextOption = None,
    ) -> None:
        """Approve and apply a plan held for approval (operator role), or locally with --repo."""
        _apply_stored(
            "approve",
            stack,
            remote_side=(server, token, repository, wait),
            local_side=(repo, branch, data_dir, store, config, kubeconfig, context),
        )

    @app.command("rollback")
    def rollback(
        stack: Annotated[str, typer.Argument(help="Stack name.")],
        revision: Annotated[str, typer.Option("--revision", help="An earlier applied revision (SHA).")],
        reason: Annotated[str, typer.Option("--reason", help="Why: recorded with the run.")],
        server: remote.ServerOption = None,
        token: remote.TokenOption = None,
        repository: RepositoryOption = None,
        wait: WaitOption = False,
        repo: LocalRepoOption = None,
        branch: LocalBranchOption = None,
        data_dir: LocalDataDirOption = None,
        store: LocalStoreOption = None,
        config: LocalConfigOption = None,
        kubeconfig: LocalKubeconfigOption = None,
        context: LocalContextOption = None,
    ) -> None:
        """Deploy an earlier applied revision of a stack (admin role); who and why are recorded."""
        if not reason.strip():
            _fail("--reason must not be empty")
        if not server and repo:
            from truenorth.cli import local  # the store: only the local path imports it

            local.act(
                "rollback",
                stack,
                repo=repo,
                branch=branch,
                data_dir=data_dir,
                store=store,
                revision=revision,
                reason=reason,
                config=config,
                kubeconfig=kubeconfig,
                context=context,
            )
            return
        remote.act(
            "rollback",
            stack,
            server=_server("rollback", server),
            token=_token(token),
            repository=repository,
            wait=wait,
            body={"revision": revision, "reason": reason},
        )


def _server(action: str, server: str | None) -> str:
    if not server:
        _fail(
            f"`truenorth {action}` needs --server URL (a running controller, `truenorth serve`) "
            "or --repo REPO (the local data dir)"
        )
    return server


def _token(token: str | None) -> str | None:
    return token or os.environ.get("TRUENORTH_TOKEN")


def _fail(message: str) -> NoReturn:
    _err.print(Text(f"Error: {message}", style="red"))
    raise typer.Exit(1)
