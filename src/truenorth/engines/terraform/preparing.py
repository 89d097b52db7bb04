"""Getting a stack ready for a Terraform command: checked, copied, initialised.

Every operation starts here. :func:`prepare` refuses hostile repository content first
(a symlink leading out of the stack folder, a var file outside the checkout), then
makes the writable working copy, adds the local backend when the stack declares none,
runs ``terraform init`` only when its inputs changed since the last successful one,
checks that the state will not land in the throw-away copy, and selects the
workspace. It yields a :class:`Prepared` and removes the working copy afterwards.

Layout under the stack's state dir::

    terraform.tfstate, terraform.tfstate.d/   local state (stacks without a backend), 0600
    plans/<revision>.tfplan                   saved plans, mode 0600
    data/                                     TF_DATA_DIR (.terraform): providers, modules
    work/terraformrc                          truenorth's Terraform CLI configuration
    work/init.sha256, work/terraform.lock.hcl what the last successful init saw and wrote
    work/tree/                                the working copy (only during an operation)
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truenorth import paths
from truenorth.engines import protocol
from truenorth.engines.terraform import configs, invoking, states, variables, workdirs

__all__ = ["LOCK_FILE", "Prepared", "prepare"]

LOCK_FILE = ".terraform.lock.hcl"


@dataclass(frozen=True)
class Prepared:
    """A stack ready for ``plan``/``apply``: the invocation and what was found on the way."""

    invocation: invoking.Invocation
    #: The backend init configured (``{"type": ..., "config": {...}}``).
    backend: Mapping[str, Any]
    #: Each var file as (repository path, real path inside the checkout).
    var_files: tuple[tuple[str, Path], ...] = ()
    #: Whether ``init`` ran (False when its inputs were unchanged since the last one).
    init_ran: bool = False

    @property
    def cwd(self) -> Path:
        """The stack's folder inside the working copy."""
        return self.invocation.cwd


@contextlib.contextmanager
def prepare(
    ctx: protocol.StackContext,
    *,
    binary: str,
    binary_identity: str,
    deadline: float | None = None,
) -> Iterator[Prepared]:
    """Check, copy and initialise ``ctx``'s stack; yield it ready; remove the copy after.

    ``binary_identity`` (path and version) is part of what decides whether ``init`` must
    run again. Raises :class:`~truenorth.engines.protocol.EngineError`.
    """
    stack = ctx.stack
    options = stack.terraform
    var_files = _checked_inputs(ctx)
    state_dir = ctx.state_dir
    work = state_dir / "work"
    tree = work / "tree"
    data_dir = state_dir / "data"
    for folder in (state_dir, work):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    _keep_state_private(state_dir)
    plugin_cache = ctx.cache_dir / "terraform-plugins"
    plugin_cache.mkdir(parents=True, exist_ok=True)
    cli_config = work / "terraformrc"
    _write_if_changed(cli_config, configs.cli_config(plugin_cache))
    env = configs.environment(
        cli_config_file=cli_config,
        data_dir=data_dir,
        plugin_cache_dir=plugin_cache,
        states_root=state_dir.parent,
    )
    env.update(_secret_environment(ctx))
    try:
        workdirs.build(ctx.checkout, tree)
        cwd = tree / stack.path
        ctx.redactor.add(
            *variables.sensitive_inputs(
                cwd, variables=options.vars, var_files=[real for _, real in var_files]
            )
        )
        invocation = invoking.Invocation(
            ctx=ctx,
            binary=binary,
            cwd=cwd,
            tree=tree,
            env=env,
            deadline=deadline if deadline is not None else time.monotonic() + ctx.timeout,
        )
        declared = configs.declares_backend(cwd)
        if not declared:
            workdirs.replace_file(cwd / configs.BACKEND_FILE, configs.backend_file(state_dir))
        key = f"{binary_identity}\0{declared}\0{configs.cli_config(plugin_cache)}"
        init_ran = _init(invocation, work=work, data_dir=data_dir, key=key)
        backend = states.read_backend(data_dir)
        problem = states.backend_problem(backend, workspace=options.workspace)
        if problem:
            raise protocol.EngineError(f"stack {stack.name!r}: {problem}")
        _select_workspace(invocation, data_dir=data_dir, workspace=options.workspace)
        if not declared:
            _seed_state(states.local_state_path(backend, workspace=options.workspace, cwd=cwd))
        yield Prepared(invocation=invocation, backend=backend, var_files=var_files, init_ran=init_ran)
    finally:
        workdirs.remove(tree)


def _secret_environment(ctx: protocol.StackContext) -> dict[str, str]:
    """The stack's ``secret_env``: values the controller resolved from their references."""
    found: dict[str, str] = {}
    for name, reference in ctx.stack.terraform.secret_env.items():
        value = ctx.secrets.get(f"env:{name}")
        if value is None:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: secret reference {reference!r} (for {name}) is not provided; "
                "give it in the controller's [secrets] or as TRUENORTH_SECRET_<REFERENCE>"
            )
        ctx.redactor.add(value)
        found[name] = value
    return found


def _keep_state_private(state_dir: Path) -> None:
    """Make local state files 0600 and workspace folders 0700, as older versions may not have.

    New ones are private already: Terraform runs with umask 077 (``engines.processes``),
    which is what makes its ``terraform.tfstate.backup`` private (it writes it 0644).
    """
    workspaces = state_dir / "terraform.tfstate.d"
    folders = [workspaces, *(p for p in workspaces.glob("*") if p.is_dir() and not p.is_symlink())]
    for folder in folders:
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o700)
    for folder in [state_dir, *folders]:
        for path in folder.glob("terraform.tfstate*"):
            if path.is_file() and not path.is_symlink():
                path.chmod(0o600)


def _seed_state(path: Path | None) -> None:
    """Give a never-applied stack an empty local state.

    Another stack may read this one's outputs through ``terraform_remote_state`` before it
    is first applied (``truenorth plan`` of two dependent stacks); Terraform fails on a
    missing state file but reads an empty one as "no outputs", so the reader's
    ``defaults`` apply and its plan shows the right creates.
    """
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(states.empty_state())
    path.chmod(0o600)


def _checked_inputs(ctx: protocol.StackContext) -> tuple[tuple[str, Path], ...]:
    """Refuse a missing stack folder, escaping symlinks and var files outside the checkout."""
    name = ctx.stack.name
    try:
        links = paths.escaping_links(ctx.checkout, ctx.stack.path)
        if links:
            more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
            raise protocol.EngineError(
                f"stack {name!r}: symlink {links[0]!r} points outside the stack folder{more}; refused"
            )
        folder = paths.resolve_inside(ctx.checkout, ctx.stack.path)
        if not folder.is_dir():
            raise protocol.EngineError(
                f"stack {name!r}: folder {ctx.stack.path!r} does not exist at this revision"
            )
        found = []
        for item in ctx.stack.terraform.var_files:
            real = paths.resolve_inside(ctx.checkout, item)
            if not real.is_file():
                raise protocol.EngineError(
                    f"stack {name!r}: var file {item!r} does not exist at this revision"
                )
            found.append((item, real))
    except paths.PathEscapeError as exc:
        raise protocol.EngineError(f"stack {name!r}: {exc.message}; refused") from None
    return tuple(found)


def _init(invocation: invoking.Invocation, *, work: Path, data_dir: Path, key: str) -> bool:
    """Run ``init`` unless nothing it reads changed since the last success; True if it ran."""
    cwd = invocation.cwd
    digest = hashlib.sha256(f"{key}\0{workdirs.init_inputs_digest(invocation.tree)}".encode()).hexdigest()
    marker = work / "init.sha256"
    saved_lock = work / "terraform.lock.hcl"
    if data_dir.is_dir() and marker.is_file() and marker.read_text().strip() == digest:
        if saved_lock.is_file():
            workdirs.replace_file(cwd / LOCK_FILE, saved_lock.read_text(encoding="utf-8"))
        return False
    marker.unlink(missing_ok=True)
    argv = configs.init_argv(invocation.binary)
    if (cwd / configs.BACKEND_FILE).exists():
        argv.append("-reconfigure")  # our own local backend: follow the state dir if it moved
    invocation.run(argv, what="init", stream=True)
    if (cwd / LOCK_FILE).is_file():
        _write_if_changed(saved_lock, (cwd / LOCK_FILE).read_text(encoding="utf-8"))
    else:
        saved_lock.unlink(missing_ok=True)
    marker.write_text(digest + "\n")
    return True


def _select_workspace(invocation: invoking.Invocation, *, data_dir: Path, workspace: str) -> None:
    current = data_dir / "environment"
    selected = current.read_text().strip() if current.is_file() else "default"
    if selected != workspace:
        invocation.run(configs.workspace_argv(invocation.binary, workspace), what="workspace select")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        workdirs.replace_file(path, text)
