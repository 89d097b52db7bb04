"""``sync``, ``approve`` and ``rollback`` with ``--repo``: acting on the local data dir, no server.

The same actions a controller does (:mod:`truenorth.controller.local.approving`), run
in this process as ``truenorth plan``/``apply`` would: the data dir is shared with other
local commands but refused while a controller holds it
(:mod:`truenorth.controller.runs.ownership`; the message points at ``--server``), files
are written private (umask 077), and the actor recorded is ``local:<user>``. The stack is
held for the action (:mod:`truenorth.controller.local.holding`: the data dir's stack lock
and, on PostgreSQL, the stack's database lock): a stack another command or a controller
replica works on is refused at once. On PostgreSQL the action uses the state replicas
share. A Kubernetes stack's cluster comes from ``--config FILE`` (the controller's
``[clusters]`` tables) or ``--kubeconfig FILE [--context NAME]``, as for ``truenorth apply``.
The commands themselves are declared in :mod:`truenorth.cli.actions`.
"""

from __future__ import annotations

import contextlib
import getpass
from pathlib import Path
from typing import NoReturn

import typer
from rich.text import Text

from truenorth.cli import tables
from truenorth.controller import errors as controller_errors
from truenorth.controller.local import approving, clusters, holding
from truenorth.controller.runs import executing, layout, ownership, runtime
from truenorth.core import redaction
from truenorth.git import errors as git_errors

__all__ = ["act"]

_console = tables.console()
_err = tables.console(stderr=True)


def act(
    action: str,
    stack: str,
    *,
    repo: str,
    branch: str | None,
    data_dir: Path | None,
    store: str | None,
    revision: str = "",
    reason: str = "",
    config: Path | None = None,
    kubeconfig: Path | None = None,
    context: str | None = None,
) -> None:
    """Do ``action`` on the local data dir; exit 1 when it failed (its error printed in full).

    ``config``/``kubeconfig``/``context``: Kubernetes stacks' targets, as ``truenorth
    apply`` takes them (:func:`truenorth.controller.local.clusters.lookup`).
    """
    actor = f"local:{getpass.getuser()}"
    root = layout.data_dir_from_env(data_dir)
    try:
        found = clusters.lookup(config=config, kubeconfig=kubeconfig, context=context)
    except clusters.ClusterError as exc:
        _fail(str(exc))
    held = contextlib.ExitStack()
    try:
        held.enter_context(ownership.private_files())
        held.enter_context(ownership.share(root, command=f"truenorth {action} --repo"))
        with controller_errors.store_unavailable():
            rt = runtime.open_runtime(root, store_url=store, clusters=found)
        try:
            holding.share_state(rt, store)  # PostgreSQL: the state replicas share
        except holding.SettingError:
            rt.close()
            raise
    except (ownership.DataDirBusy, holding.SettingError) as exc:
        held.close()
        _fail(str(exc))
    except controller_errors.ControllerError as exc:
        held.close()
        _fail(exc.message)
    except OSError as exc:
        held.close()
        _fail(f"cannot open the local data dir: {exc}")
    try:
        with controller_errors.store_unavailable():
            outcome = _run(
                action, rt, repo, stack, actor=actor, branch=branch, revision=revision, reason=reason
            )
    except (
        approving.ActionError,
        holding.StackBusy,
        git_errors.GitError,
        controller_errors.ControllerError,
    ) as exc:
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


def _run(
    action: str,
    rt: runtime.Runtime,
    repo: str,
    stack: str,
    *,
    actor: str,
    branch: str | None,
    revision: str,
    reason: str,
) -> executing.Outcome:
    if action == "rollback":
        return approving.roll_back(
            rt, repo, stack, revision=revision, actor=actor, reason=reason, branch=branch
        )
    return approving.apply_stored_plan(
        rt, repo, stack, actor=actor, branch=branch, approval=action == "approve"
    )


def _fail(message: str) -> NoReturn:
    _err.print(Text(f"Error: {redaction.redact_url_credentials(message)}", style="red"))
    raise typer.Exit(1)
