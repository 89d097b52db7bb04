"""Getting a stack ready for a Terraform command: checked, copied, initialised.

Every operation starts here. :func:`prepare` refuses hostile repository content first
(a symlink leading out of the stack folder, a var file outside the checkout), then
makes the writable working copy, adds the local backend when the stack declares none,
runs ``terraform init`` only when its inputs changed since the last successful one,
checks that the state will not land in the throw-away copy, and selects the
workspace. The stack's ``inputs:`` are in the environment of every command
(``TF_VAR_<name>``, :mod:`.inputs`). It yields a :class:`Prepared` and removes the working copy afterwards.

Confined (see :mod:`truenorth.engines.sandbox`), every command sees the snapshot
read-only, this stack's state dir writable (the working copy is in it), the provider
cache (writable for ``init`` only) and a copy of the state of each stack it declares in
``depends_on`` (in the working copy, below): nothing else of the data dir. The working copy is then *copied*
from the snapshot, not hard-linked: a program may chmod a file it owns, and a hard link
would let it change the snapshot that other stacks read.

A declared dependency's local state is reachable, sandboxed or not, at one path
relative to the stack's folder (see :data:`DEPENDENCIES_DIR`)::

    data "terraform_remote_state" "network" {
      backend = "local"
      config  = { path = ".truenorth/deps/network/terraform.tfstate" }
    }

(a dependency that uses a workspace: ``workspace_dir = ".truenorth/deps/network/
terraform.tfstate.d"`` and ``workspace = "..."``). A stack never sees the state of a
stack it does not depend on. What it sees there is a copy taken when the operation
starts, never the live file: Terraform rewrites a state file in place, so a plan of the
dependent while the dependency applies (a preview, a drift check) could read it half
written, and a ``terraform_remote_state`` with ``defaults`` would then silently plan
with the defaults. The copy is read again until it parses as a state (JSON with a
``serial``), a bounded number of times, and the operation fails with an error naming
the dependency when it never does (:func:`_settled_state`).

With replicas (``ctx.shared_state``), a stack without a backend gets the ``pg`` backend
instead of the local one, and a dependency without a backend is read from its schema
into the same path: see :mod:`.sharing`.

A read-only plan (``ctx.read_only``: a merge request's preview) runs without the
stack's lock, maybe while an apply or plan of the same stack runs. It therefore writes
nothing in the state dir: it gets an area of its own, ``<cache dir>/terraform-previews/
<stack>-<random>/`` (0700, laid out like the state dir: ``work/``, ``data/``, ``plans/``,
``state/``, ``deps/``), removed when it ends. Its ``init`` runs there from scratch (the
plugin cache makes that cheap), its plan file is written there (so it can never be
applied), and it reads a copy of the stack's local state (``state/``) taken whole before
the plan, planning with ``-lock=false``: it never waits for, nor makes fail, an apply
holding the state's lock. The dependencies' state is linked as for any operation. Every
``init`` holds the plugin cache's lock (:data:`PLUGIN_CACHE_LOCK`).

Layout under the stack's state dir::

    terraform.tfstate, terraform.tfstate.d/   local state (stacks without a backend), 0600
    plans/<revision>.tfplan                   saved plans, mode 0600
    data/                                     TF_DATA_DIR (.terraform): providers, modules
    work/terraformrc                          truenorth's Terraform CLI configuration
    work/init.sha256, work/terraform.lock.hcl what the last successful init saw and wrote
    work/tree/                                the working copy (only during an operation)
    work/home/                                HOME of confined commands
    deps/<stack>/                             replicas: a dependency's pg backend dir and pulled state
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truenorth import paths
from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.terraform import configs, initkeys, invoking, sharing, states, variables, workdirs
from truenorth.engines.terraform import inputs as tf_inputs

__all__ = [
    "DEPENDENCIES_DIR",
    "LOCK_FILE",
    "PLUGIN_CACHE_LOCK",
    "PREVIEWS_DIR",
    "Prepared",
    "needs_init",
    "prepare",
    "reinit",
]

LOCK_FILE = ".terraform.lock.hcl"
#: Where, relative to the stack's folder, each declared dependency's state can be read:
#: ``.truenorth/deps/<stack>/terraform.tfstate`` (and ``terraform.tfstate.d``).
DEPENDENCIES_DIR = ".truenorth/deps"
_STATE_NAMES = ("terraform.tfstate", "terraform.tfstate.d")
#: The folder of the cache dir holding each read-only plan's own area while it runs.
PREVIEWS_DIR = "terraform-previews"
#: The lock file (in the cache dir) every ``init`` holds: the plugin cache is shared, and
#: Terraform does not make concurrent installs of one provider into it safe.
PLUGIN_CACHE_LOCK = "terraform-plugins.lock"
#: How often, and how long apart, a state file read as not a whole state is read again (an
#: apply is writing it: Terraform rewrites the file in place), before the operation fails.
_STATE_READS, _STATE_REREAD_SECONDS = 50, 0.1
_INIT_MARKER = "init.sha256"
# What Terraform (and OpenTofu) print when the working directory needs `init` again.
_NEEDS_INIT = (
    "Inconsistent dependency lock file",
    "Module not installed",
    "Module source has changed",
    "Module version requirements have changed",
    "Required plugins are not installed",
    "Missing required provider",
    "Backend initialization required",
    "Backend configuration changed",
    'please run "terraform init"',
    'please run "tofu init"',
)


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
    #: The file naming the key of the last successful ``init`` (see :func:`reinit`).
    init_marker: Path | None = None
    #: The ``pg`` schema holding the state when replicas share it (:mod:`.sharing`), else None.
    shared_schema: str | None = None
    #: Where this operation's plan files go: the state dir's ``plans/``, or a read-only
    #: plan's own area (removed with it). None: the state dir's.
    plans_dir: Path | None = None

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
    run again. A read-only plan (``ctx.read_only``, a preview) works in an area of its own,
    removed afterwards, and writes nothing in the stack's state dir (see the module).
    Raises :class:`~truenorth.engines.protocol.EngineError`.
    """
    deadline = deadline if deadline is not None else time.monotonic() + ctx.timeout
    if not ctx.read_only:
        with _prepared(
            ctx, area=ctx.state_dir, binary=binary, binary_identity=binary_identity, deadline=deadline
        ) as prepared:
            yield prepared
        return
    area = _own_area(ctx)
    try:
        with _prepared(
            ctx, area=area, binary=binary, binary_identity=binary_identity, deadline=deadline
        ) as prepared:
            yield prepared
    finally:
        workdirs.remove(area)


#: A preview folder untouched this long was left by a controller that died (see :func:`_sweep_left_areas`).
STALE_PREVIEW_SECONDS = 24 * 3600.0


def _own_area(ctx: protocol.StackContext) -> Path:
    """A read-only plan's own folder (0700), under :data:`PREVIEWS_DIR` of the cache dir."""
    parent = ctx.cache_dir / PREVIEWS_DIR
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o700)
    _sweep_left_areas(parent, older_than=max(STALE_PREVIEW_SECONDS, 2 * ctx.timeout))
    return Path(tempfile.mkdtemp(dir=parent, prefix=f"{ctx.stack.name}-"))


def _sweep_left_areas(parent: Path, *, older_than: float) -> None:
    """Remove preview folders a killed controller left (their plan files may hold secrets).

    A folder is removed only when it has not changed for ``older_than`` seconds, longer
    than any operation may last, so a preview still running is never touched. ``rmtree``
    does not follow links a sandboxed program may have planted.
    """
    now = time.time()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        try:
            if (
                entry.is_dir(follow_symlinks=False)
                and now - entry.stat(follow_symlinks=False).st_mtime > older_than
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


@contextlib.contextmanager
def _prepared(
    ctx: protocol.StackContext,
    *,
    area: Path,
    binary: str,
    binary_identity: str,
    deadline: float,
) -> Iterator[Prepared]:
    """:func:`prepare` with everything it writes in ``area``: the state dir, or a preview's own."""
    stack = ctx.stack
    options = stack.terraform
    var_files = _checked_inputs(ctx)
    state_dir = ctx.state_dir
    work = area / "work"
    tree = work / "tree"
    data_dir = area / "data"
    for folder in (area, work):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    if not ctx.read_only:
        _keep_state_private(state_dir)
    plugin_cache = ctx.cache_dir / "terraform-plugins"
    plugin_cache.mkdir(parents=True, exist_ok=True)
    cli_config = work / "terraformrc"
    try:
        operator = configs.operator_cli_config()
        cli_text = configs.cli_config(plugin_cache, operator)
    except configs.OperatorConfigError as exc:
        raise protocol.EngineError(f"stack {stack.name!r}: {exc}") from None
    ctx.redactor.add(*operator.secrets)
    _write_if_changed(cli_config, cli_text)
    env = configs.environment(cli_config_file=cli_config, data_dir=data_dir, plugin_cache_dir=plugin_cache)
    ctx.redactor.add(*configs.token_values(env))
    base_env = dict(env)
    env.update(_secret_environment(ctx))
    env.update(
        tf_inputs.environment(
            ctx.inputs, stack=stack.name, variables=options.vars, secret_env=options.secret_env
        )
    )
    # Replicas: the state of a stack without a backend, and of such dependencies, in PostgreSQL.
    declared = configs.declares_backend(paths.resolve_inside(ctx.checkout, stack.path))
    pg = sharing.own_backend(ctx) if ctx.shared_state is not None and not declared else None
    if pg is not None:
        env.update(pg.env)  # last: a stack's secret_env cannot point the backend elsewhere
        if ctx.read_only:
            _refuse_unmoved_state(ctx)
    elif not declared:
        sharing.refuse_moved_state(ctx)
    # A read-only plan reads a copy of the stack's local state, taken whole (see the module).
    own_state = area / "state" if ctx.read_only else state_dir
    if ctx.read_only and pg is None and not declared:
        _copy_state(ctx, into=own_state)
    shared_dependencies = sharing.dependencies(ctx) if ctx.shared_state is not None else ()
    dependencies = _dependency_states(ctx, skip={item.name for item in shared_dependencies})
    local_dependencies = frozenset(dependencies)
    reached = sharing.reach(ctx) if pg is not None or shared_dependencies else ()
    confinement = _confinement(
        ctx,
        state_dir=area,
        plugin_cache=plugin_cache,
        home=work / "home",
        dependencies={},  # their state is copied into the working copy (_place_dependencies)
        mirrors=tuple(path for path in operator.mirrors if path.is_dir()),
        database=reached,
    )
    if confinement is not None and (pg is not None or shared_dependencies):
        sharing.refuse_unreachable(ctx)
    try:
        if shared_dependencies:
            dependencies.update(
                sharing.dependency_states(
                    ctx,
                    shared_dependencies,
                    binary=binary,
                    binary_identity=binary_identity,
                    env=base_env,
                    confinement=confinement,
                    deadline=deadline,
                    work=area,
                )
            )
        workdirs.build(ctx.checkout, tree, link=confinement is None)
        cwd = tree / stack.path
        _place_dependencies(ctx, cwd, dependencies, copied=local_dependencies)
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
            deadline=deadline,
            confinement=confinement,
            # A pg backend's database-wide locks and catalog races are transient (.sharing):
            # ours, or one the stack declares (the messages are the pg backend's only).
            retrying=sharing.RETRYING,
        )
        if not declared:
            text = pg.file_text if pg is not None else configs.backend_file(own_state)
            workdirs.replace_file(cwd / configs.BACKEND_FILE, text)
        key = _init_key(
            ctx,
            cwd=cwd,
            tree=tree,
            var_files=var_files,
            base=(binary_identity, declared, cli_text),
            schema=pg.schema if pg is not None else None,
        )
        init_ran = _init(invocation, work=work, data_dir=data_dir, key=key)
        backend = states.read_backend(data_dir)
        problem = states.backend_problem(backend, workspace=options.workspace)
        if problem:
            raise protocol.EngineError(f"stack {stack.name!r}: {problem}")
        invocation = _reach_declared_state(ctx, invocation, backend=backend, area=area)
        _select_workspace(invocation, data_dir=data_dir, workspace=options.workspace)
        if pg is not None:
            if not ctx.read_only:
                sharing.migrate_local_state(invocation, schema=pg.schema)
        elif not declared:
            _seed_state(states.local_state_path(backend, workspace=options.workspace, cwd=cwd))
        yield Prepared(
            invocation=invocation,
            backend=backend,
            var_files=var_files,
            init_ran=init_ran,
            init_marker=work / _INIT_MARKER,
            shared_schema=pg.schema if pg is not None else None,
            plans_dir=area / "plans",
        )
    finally:
        workdirs.remove(tree)


def _dependency_states(
    ctx: protocol.StackContext, *, skip: Collection[str] = ()
) -> dict[str, tuple[Path, ...]]:
    """Each declared dependency's local state files and workspace folder that exist.

    Only what ``depends_on:`` says: a stack that merely reads another's outputs through
    ``inputs:`` gets those values and sees nothing of its state. ``skip``: the
    dependencies whose state is pulled from PostgreSQL instead (:mod:`.sharing`).
    """
    found: dict[str, tuple[Path, ...]] = {}
    for name in ctx.stack.explicit_depends_on:
        if name in skip:
            continue
        folder = ctx.state_dir.parent / name
        found[name] = tuple(folder / item for item in _STATE_NAMES if (folder / item).exists())
    return found


def _place_dependencies(
    ctx: protocol.StackContext,
    cwd: Path,
    dependencies: Mapping[str, tuple[Path, ...]],
    *,
    copied: Collection[str],
) -> None:
    """``.truenorth/deps/<stack>/...`` in the working copy: each dependency's state.

    Whatever the repository holds at that path is replaced. The local state of the
    dependencies in ``copied`` is copied, each file once it reads as a whole state
    (:func:`_settled_state`), so the dependency may apply meanwhile; the others (pulled
    from PostgreSQL into this operation's own folder, :mod:`.sharing`) are linked. A
    stack sees no other stack's state: nothing else is copied, linked or reachable.
    """
    root = cwd / DEPENDENCIES_DIR
    workdirs.remove(root)
    for name, found in dependencies.items():
        folder = root / name
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        for real in found:
            if name not in copied:
                (folder / real.name).symlink_to(real)
            elif real.name == _STATE_NAMES[0]:
                _copy_settled(ctx, real, into=folder / real.name, dependency=name)
            else:  # terraform.tfstate.d/<workspace>/terraform.tfstate
                _copy_workspaces(ctx, real, into=folder / real.name, dependency=name)


def _copy_workspaces(ctx: protocol.StackContext, source: Path, *, into: Path, dependency: str) -> None:
    """Copy the state of each workspace in ``source`` (a ``terraform.tfstate.d``) into ``into``."""
    if source.is_symlink() or not source.is_dir():
        return
    into.mkdir(mode=0o700, exist_ok=True)
    for entry in sorted(os.scandir(source), key=lambda item: item.name):
        if not entry.is_dir(follow_symlinks=False):
            continue
        (into / entry.name).mkdir(mode=0o700, exist_ok=True)
        _copy_settled(
            ctx,
            Path(entry.path) / _STATE_NAMES[0],
            into=into / entry.name / _STATE_NAMES[0],
            dependency=dependency,
        )


def _copy_settled(ctx: protocol.StackContext, source: Path, *, into: Path, dependency: str) -> None:
    """Copy the state file ``source`` of ``dependency`` into the new file ``into`` (0600), whole."""
    text = _settled_state(ctx, source, whose=f"the state of its dependency {dependency!r}")
    if text is None:
        return
    fd = os.open(into, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text)


def _settled_state(ctx: protocol.StackContext, source: Path, *, whose: str) -> bytes | None:
    """The bytes of the Terraform state file ``source`` once they read as a whole state.

    Terraform rewrites a state file in place: read while it writes, the file is empty or
    cut short. A read that is not a JSON object with a ``serial`` is read again, up to
    :data:`_STATE_READS` times :data:`_STATE_REREAD_SECONDS` apart; then
    :class:`~truenorth.engines.protocol.EngineError` says whose state never settled.
    None: there is no such file (a link is not followed: never there).
    """
    for _ in range(_STATE_READS):
        if source.is_symlink() or not source.is_file():
            return None
        try:
            text = source.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: cannot read {whose}: {exc.strerror or exc}"
            ) from None
        if _whole_state(text):
            return text
        if ctx.cancel.wait(_STATE_REREAD_SECONDS):
            raise invoking.OperationCancelled(f"stack {ctx.stack.name!r}: cancelled") from None
    raise protocol.EngineError(
        f"stack {ctx.stack.name!r}: {whose} ({source.name}) is not a whole Terraform state: it was "
        f"still not JSON with a serial after {_STATE_READS} reads {_STATE_REREAD_SECONDS:g}s apart "
        "(an apply rewriting it, or a damaged file); nothing was planned or applied with it"
    )


def _whole_state(text: bytes) -> bool:
    """Whether ``text`` is a JSON object with a ``serial``, as every Terraform state is."""
    try:
        found = json.loads(text)
    except ValueError:
        return False
    return isinstance(found, dict) and "serial" in found


def _confinement(
    ctx: protocol.StackContext,
    *,
    state_dir: Path,
    plugin_cache: Path,
    home: Path,
    dependencies: Mapping[str, tuple[Path, ...]],
    mirrors: tuple[Path, ...] = (),
    database: tuple[Path, ...] = (),
) -> invoking.Confinement | None:
    """The sandboxes of this stack's commands; None when the controller runs them unconfined.

    ``init`` also reads the operator's filesystem mirrors (their CLI configuration's
    ``provider_installation``), at their own paths. ``database``: the socket folder and
    certificate files of the shared state's PostgreSQL (:mod:`.sharing`), read-only.
    """
    policy = ctx.sandbox
    read_only = (ctx.checkout, *(path for found in dependencies.values() for path in found), *database)
    try:
        other = sandboxing.confine(
            policy, read_only=(*read_only, plugin_cache), writable=(state_dir,), home=home
        )
        if other is None:
            return None
        home.mkdir(mode=0o700, exist_ok=True)
        init = sandboxing.confine(
            policy,
            read_only=(*read_only, *mirrors),
            writable=(state_dir, plugin_cache),
            home=home,
            network=True,
        )
        apply = sandboxing.confine(
            policy, read_only=(*read_only, plugin_cache), writable=(state_dir,), home=home, applying=True
        )
    except sandboxing.SandboxUnavailable as exc:
        raise protocol.EngineError(f"stack {ctx.stack.name!r}: {exc}") from None
    assert init is not None and apply is not None  # the mode said "confined" once already
    return invoking.Confinement(init=init, apply=apply, other=other)


def _reach_declared_state(
    ctx: protocol.StackContext, invocation: invoking.Invocation, *, backend: Mapping[str, Any], area: Path
) -> invoking.Invocation:
    """Let a sandboxed Terraform write the folder of a declared ``local`` backend, if allowed.

    Outside the stack's state dir, the operator must have let this repository's programs
    write there (``sandbox_writable``); otherwise the state would be written inside the
    sandbox and lost, so the stack is refused with the reason.
    """
    if invocation.confinement is None:
        return invocation
    options = ctx.stack.terraform
    local = states.local_state_path(backend, workspace=options.workspace, cwd=invocation.cwd)
    if local is None:
        return invocation
    folder = local.parent if options.workspace == "default" else local.parent.parent
    if _inside(folder, area):
        return invocation
    if not any(_inside(folder, allowed) for allowed in ctx.sandbox.writable):
        raise protocol.EngineError(
            f"stack {ctx.stack.name!r}: its local backend keeps the state in {folder}, outside "
            "truenorth's state dir, where the sandbox does not reach: remove the backend block "
            "(truenorth then keeps the state in the stack's state dir), or let this repository's "
            "programs write there (sandbox_writable)"
        )
    return dataclasses.replace(invocation, confinement=invocation.confinement.with_writable(folder))


def _inside(path: Path, folder: Path) -> bool:
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return real == root or root in real.parents


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


def needs_init(result: processes.ProcessResult) -> bool:
    """Whether a failed command says the working directory needs ``init``.

    The init key (:mod:`.initkeys`) covers what ``init`` reads; this catches what it
    cannot see (a module source that moved on a branch, a provider cache emptied by hand).
    """
    text = result.stderr + result.stdout
    return not (result.cancelled or result.timed_out) and any(marker in text for marker in _NEEDS_INIT)


def reinit(prep: Prepared) -> Prepared:
    """Run ``init`` again now, whatever its key says; ``prep`` with ``init_ran`` True."""
    if prep.init_marker is None:
        return prep
    work = prep.init_marker.parent
    key = prep.init_marker.read_text().strip() if prep.init_marker.is_file() else ""
    prep.init_marker.unlink(missing_ok=True)
    _init(prep.invocation, work=work, data_dir=work.parent / "data", key=key, digest=key)
    return dataclasses.replace(prep, init_ran=True)


def _init_key(
    ctx: protocol.StackContext,
    *,
    cwd: Path,
    tree: Path,
    var_files: tuple[tuple[str, Path], ...],
    base: tuple[str, bool, str],
    schema: str | None = None,
) -> str:
    """What ``init`` depends on, as one text (:mod:`.initkeys`).

    The binary and its version, whether the stack declares its backend, the CLI
    configuration, the repository's lock file, and the init-relevant blocks of the root
    module and of every local module it calls. OpenTofu may read variables in a backend
    or a module source, so for ``tofu`` the values the stack gives them count too.
    ``schema``: the ``pg`` schema of state shared by replicas (:mod:`.sharing`); a local
    backend adds nothing, so keys made before shared state existed stay valid.
    """
    options = ctx.stack.terraform
    tofu = Path(options.binary).name.startswith("tofu")
    lock = cwd / LOCK_FILE
    parts = [
        *map(str, base),
        hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else "no lock file",
        initkeys.init_key(cwd, tree=tree, tofu=tofu),
    ]
    if schema is not None:
        parts.append(f"pg backend schema {schema}")
    if tofu:
        parts.append(json.dumps(dict(options.vars), sort_keys=True, default=str))
        parts.extend(f"{name}={hashlib.sha256(real.read_bytes()).hexdigest()}" for name, real in var_files)
        for path in sorted(cwd.glob("*.tfvars")) + sorted(cwd.glob("*.tfvars.json")):
            parts.append(f"{path.name}={hashlib.sha256(path.read_bytes()).hexdigest()}")
        parts.extend(f"{name}={digest}" for name, digest in tf_inputs.digests(ctx.inputs))
    return "\0".join(parts)


def _init(
    invocation: invoking.Invocation, *, work: Path, data_dir: Path, key: str, digest: str | None = None
) -> bool:
    """Run ``init`` unless nothing it reads changed since the last success; True if it ran."""
    cwd = invocation.cwd
    digest = digest or hashlib.sha256(key.encode()).hexdigest()
    marker = work / _INIT_MARKER
    saved_lock = work / "terraform.lock.hcl"
    if data_dir.is_dir() and marker.is_file() and marker.read_text().strip() == digest:
        if saved_lock.is_file():
            workdirs.replace_file(cwd / LOCK_FILE, saved_lock.read_text(encoding="utf-8"))
        return False
    marker.unlink(missing_ok=True)
    argv = configs.init_argv(invocation.binary)
    if (cwd / configs.BACKEND_FILE).exists():
        argv.append("-reconfigure")  # our own local backend: follow the state dir if it moved
    with _plugin_cache_held(invocation):
        result = invocation.run(argv, what="init", stream=True, check=False)
    if result.cancelled or result.timed_out or result.returncode != 0:
        error = invocation.failure(result, what="init")
        hint = "" if result.timed_out or result.cancelled else configs.provider_install_hint(result.stderr)
        if hint:
            raise type(error)(f"{error}\n{invocation.clean(hint)}")
        raise error
    if (cwd / LOCK_FILE).is_file():
        _write_if_changed(saved_lock, (cwd / LOCK_FILE).read_text(encoding="utf-8"))
    else:
        saved_lock.unlink(missing_ok=True)
    marker.write_text(digest + "\n")
    return True


@contextlib.contextmanager
def _plugin_cache_held(invocation: invoking.Invocation) -> Iterator[None]:
    """Hold the plugin cache's lock (:data:`PLUGIN_CACHE_LOCK`) for one ``init``.

    Terraform's docs: the plugin cache is not safe for concurrent ``init`` runs installing
    the same provider (hashicorp/terraform#31964: one unpacks over the other's files).
    Stacks plan in parallel, a preview runs beside an apply of its stack, local commands
    beside each other: each ``init`` of one data dir waits for the others (``flock``, so
    the kernel lets go when a holder dies), checking the operation's cancel and deadline.
    Other commands only read the cache and take no lock.
    """
    ctx = invocation.ctx
    fd = os.open(ctx.cache_dir / PLUGIN_CACHE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if ctx.cancel.is_set():
                    raise invoking.OperationCancelled(
                        f"stack {ctx.stack.name!r}: init cancelled while waiting for the plugin cache"
                    ) from None
                if time.monotonic() >= invocation.deadline:
                    raise protocol.EngineError(
                        f"stack {ctx.stack.name!r}: init timed out waiting for another init's use "
                        "of the plugin cache"
                    ) from None
                ctx.cancel.wait(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


def _copy_state(ctx: protocol.StackContext, *, into: Path) -> None:
    """Copy the stack's local state of its workspace into ``into`` (a read-only plan's own).

    The plan then reads the copy: it takes no lock on the stack's state, never writes
    next to it, and an apply running meanwhile is not disturbed. Terraform rewrites a
    state file in place, so the copy is taken once it reads as a whole state
    (:func:`_settled_state`). A missing state stays missing (seeded empty in ``into``).
    """
    workspace = ctx.stack.terraform.workspace
    relative = (
        Path(_STATE_NAMES[0]) if workspace == "default" else Path(_STATE_NAMES[1], workspace, _STATE_NAMES[0])
    )
    source, target = ctx.state_dir / relative, into / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    into.chmod(0o700)
    text = _settled_state(ctx, source, whose="its own state")
    if text is None:
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text)


def _refuse_unmoved_state(ctx: protocol.StackContext) -> None:
    """Refuse a read-only plan of a stack whose local state is not moved into PostgreSQL yet.

    The move (:func:`.sharing.migrate_local_state`) writes, so only the stack's next plan
    or apply makes it; until then the schema may not hold the stack's state, and a
    preview would show everything as new.
    """
    workspace = ctx.stack.terraform.workspace
    local = (
        ctx.state_dir / _STATE_NAMES[0]
        if workspace == "default"
        else ctx.state_dir / _STATE_NAMES[1] / workspace / _STATE_NAMES[0]
    )
    try:
        state = states.read_state_file(local) if local.is_file() and not local.is_symlink() else None
    except (OSError, ValueError):
        state = None
    if states.is_empty(state):
        return
    raise protocol.EngineError(
        f"stack {ctx.stack.name!r}: its Terraform state is still in this replica's data dir, not yet "
        "moved into PostgreSQL (the stack's next plan or apply moves it); a preview only reads, "
        "so it cannot: preview again after that"
    )


def _select_workspace(invocation: invoking.Invocation, *, data_dir: Path, workspace: str) -> None:
    current = data_dir / "environment"
    selected = current.read_text().strip() if current.is_file() else "default"
    if selected != workspace:
        invocation.run(configs.workspace_argv(invocation.binary, workspace), what="workspace select")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        workdirs.replace_file(path, text)
