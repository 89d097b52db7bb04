"""Sharing the Terraform state of stacks without a backend between replicas (PostgreSQL).

With several replicas (``ctx.shared_state`` set), a stack that declares no backend keeps
its state in Terraform's built-in ``pg`` backend, one schema per stack
(:mod:`.pgstate`), instead of a local file in one replica's data dir. :mod:`.preparing`
calls this module for the four parts of that wiring:

* :func:`own_backend`: the stack's backend file and the ``PG_CONN_STR`` its commands get
  (and only they); the URL and its password registered with the run's redactor before
  anything runs, so no error Terraform prints can show them.
* :func:`reach`: what the sandbox must let the commands reach: a TCP database needs the
  network (refused, with the reason, where the repository denies plans a network: a plan
  could not read the state); a Unix socket's folder is bound read-only (connecting to a
  socket needs no write access to its file system), and so are certificate files the
  URL names.
* :func:`migrate_local_state`: a stack that ran before with local state (one
  controller, or replicas before this wiring) must not lose it. When the state dir
  holds a non-empty local state of the stack's workspace and its schema is empty, the
  local state is pushed into the schema (``terraform state push``, under the backend's
  lock); a non-empty schema is never overwritten. Either way the local file is renamed
  (kept, 0600) so that it is never considered again: the check costs one ``stat`` once
  done. A controller that goes back to local state finds the renamed file and refuses
  the stack (:func:`refuse_moved_state`) rather than plan to create everything again.
* :func:`dependency_states`: a dependent reads its explicit dependencies' state at
  ``.truenorth/deps/<stack>/terraform.tfstate``. For a dependency that is a Terraform
  stack declaring no backend, that file is filled from the dependency's schema with
  ``terraform state pull`` in a small working dir of the dependent's own state dir
  (``deps/<stack>/``: only the ``pg`` backend block), inside the dependent's sandbox;
  that dir is initialised once and again only when the binary, the CLI configuration or
  the schema change. One ``state pull`` per dependency and operation, nothing more. A
  schema still empty while this replica holds the dependency's local state (not yet
  migrated) falls back to that local state.

Terraform's ``pg`` backend has two things shared by every schema of the database, which
make first runs of many stacks at once (1,000 new stacks on 3 replicas) collide:

* every command configures the backend: ``CREATE SCHEMA IF NOT EXISTS``, ``CREATE SEQUENCE
  IF NOT EXISTS public.global_states_id_seq`` (ONE sequence for all schemas) and ``CREATE
  TABLE``/``INDEX IF NOT EXISTS``. Two sessions creating one catalog object at once make
  one fail with ``duplicate key value violates unique constraint "pg_class_relname_nsp_index"``
  (``pg_type_typname_nsp_index``, ``pg_namespace_nspname_index``); run again, it finds
  the object there.
* a state lock takes the advisory lock of the workspace's row id AND the creation lock
  ``-1``, one for the whole database: a workspace without a row takes ``-1`` and keeps
  it while the command runs ("Already locked for workspace creation: default" for every
  other creator meanwhile); an existing one takes it for an instant ("Cannot lock
  workspace; already locked for workspace creation" when another holds it). Plans here
  take no state lock; an apply, a ``state push`` and ``workspace select -or-create`` do.

So two things. :func:`create_workspace`: the default workspace has no row until a state is
written, and its first apply would hold ``-1`` for the whole apply (every other stack's
apply in the database failing meanwhile); the engine writes an empty state before the
stack's first plan instead (a ``state push``, milliseconds), so that no apply ever holds
``-1`` for more than an instant. And :data:`RETRYING`: each command of a stack whose
state is in PostgreSQL runs again when it fails on exactly those errors
(:func:`transient_failure`: plain substring checks of the end of standard error, exit
code 1 only), up to 5 tries with a jittered pause (0.25 s to 4 s), honouring the
operation's cancel and deadline, each retry said in the run log (:mod:`.invoking`). An
apply is run again only when it failed acquiring the state lock (nothing was applied).
Every other failure (a wrong password, a missing database) fails at once. Retrying is
chosen over serialising the first ``init`` per process: the collisions are across
replicas (one database), and between any of ``init``, ``apply``, ``state push`` and
``workspace``, where a lock in one process covers only a part; a collision costs one
more Terraform process, and the plugin cache's lock already serialises one replica's
``init`` runs.

Plans in the shared backend run with ``-lock=false`` (:mod:`.engine`): a plan only reads
the state, a preview or drift plan must never make an apply fail on the backend's lock,
and an apply of a saved plan is refused once the state changed since (Terraform's own
check and :mod:`.staleness`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from truenorth import paths
from truenorth.core import specs
from truenorth.engines import processes, protocol
from truenorth.engines.terraform import configs, invoking, pgstate, states, workdirs

__all__ = [
    "DEPENDENCIES_FOLDER",
    "MIGRATED_SUFFIX",
    "NOT_MIGRATED_SUFFIX",
    "RETRYING",
    "Dependency",
    "create_workspace",
    "dependencies",
    "dependency_states",
    "migrate_local_state",
    "own_backend",
    "reach",
    "refuse_moved_state",
    "refuse_unreachable",
    "transient_failure",
]

#: The dependent's state dir folder holding each dependency's pull dir.
DEPENDENCIES_FOLDER = "deps"
#: A local state pushed into the stack's schema is kept under this name (0600).
MIGRATED_SUFFIX = ".migrated-to-pg"
#: A local state left behind because the schema already held a state (0600).
NOT_MIGRATED_SUFFIX = ".not-migrated-pg-had-state"
_INIT_MARKER = "init.sha256"
_STATE_NAME = "terraform.tfstate"
_WORKSPACES = "terraform.tfstate.d"
#: How much of the end of standard error :func:`transient_failure` reads: Terraform prints
#: its error last, and the check stays small whatever a command printed before.
_ERROR_TAIL = 16 * 1024
#: The ``pg`` backend's lock messages: a creation holds the database-wide lock ``-1``.
_CREATION_LOCKED = ("Already locked for workspace creation", "already locked for workspace creation")
_LOCK_FAILED = "Error acquiring the state lock"
_DUPLICATE = "duplicate key value violates unique constraint"
#: PostgreSQL catalog indexes two concurrent ``CREATE ... IF NOT EXISTS`` collide on.
_CATALOG_INDEXES = (
    '"pg_class_relname_nsp_index"',
    '"pg_type_typname_nsp_index"',
    '"pg_namespace_nspname_index"',
)


def transient_failure(argv: Sequence[str], result: processes.ProcessResult) -> str | None:
    """Why ``result`` of ``argv`` failed on a transient error of the ``pg`` backend, or None.

    See the module: another command creating a workspace holds the database-wide creation
    lock, or two commands created one catalog object at once. Plain substring checks of
    the end of standard error (bounded, its runs of white space made one space: Terraform
    wraps long lines), exit code 1 only. An ``apply`` counts only when
    it failed acquiring the state lock: before it changed anything.
    """
    if result.returncode != 1 or result.cancelled or result.timed_out or result.limit:
        return None
    # Terraform wraps a diagnostic's lines (at any space): compare with single spaces.
    text = " ".join(result.stderr[-_ERROR_TAIL:].split())
    command = argv[1] if len(argv) > 1 else ""
    if any(marker in text for marker in _CREATION_LOCKED):
        if command != "apply" or _LOCK_FAILED in text:
            return "Terraform's pg backend lock for workspace creation, held by another stack's command"
        return None
    if command != "apply" and _DUPLICATE in text and any(name in text for name in _CATALOG_INDEXES):
        return "Terraform's pg backend creating its tables and sequence at the same time as another stack"
    return None


#: How the commands of a stack whose state is in PostgreSQL retry (see the module).
RETRYING = invoking.Retrying(reason=transient_failure)


@dataclass(frozen=True)
class Dependency:
    """An explicit dependency whose state is in its own schema: its name and workspace."""

    name: str
    workspace: str = "default"


def own_backend(ctx: protocol.StackContext) -> pgstate.PgBackend:
    """The ``pg`` backend of ``ctx``'s stack; its connection string registered as a secret."""
    shared = _shared(ctx)
    ctx.redactor.add(*pgstate.secrets_of(shared.postgres_url))
    try:
        backend = pgstate.backend_for(shared.repository, ctx.stack.name, conn_str=shared.postgres_url)
    except ValueError as exc:
        raise protocol.EngineError(f"stack {ctx.stack.name!r}: shared Terraform state: {exc}") from None
    ctx.redactor.add(*backend.env.values())
    return backend


def reach(ctx: protocol.StackContext) -> tuple[Path, ...]:
    """The paths a sandbox binds read-only so that Terraform reaches the shared state.

    A Unix socket's folder (connecting needs no write access to its file system) and the
    certificate files the URL names.
    """
    found = pgstate.reach(pgstate.libpq_url(_shared(ctx).postgres_url))
    return tuple(Path(item) for item in (*found.sockets, *found.files))


def refuse_unreachable(ctx: protocol.StackContext) -> None:
    """Refuse a confined stack whose plans cannot reach the shared state (no network for plans).

    A database reached over TCP needs the network, which the repository denies its plans
    (``deny_network_for_plans``): a plan could not read the state.
    """
    if ctx.sandbox.plan_network or not pgstate.reach(pgstate.libpq_url(_shared(ctx).postgres_url)).network:
        return
    raise protocol.EngineError(
        f"stack {ctx.stack.name!r}: its Terraform state is in PostgreSQL (shared by the controller "
        "replicas), reached over the network, and this repository's plans run without a network "
        "(deny_network_for_plans), so a plan could not read the state. Give the controller a "
        "Unix-socket terraform_state_url (?host=/path/to/the/socket/folder), or let this "
        "repository's plans use the network"
    )


def dependencies(ctx: protocol.StackContext) -> tuple[Dependency, ...]:
    """The explicit dependencies that are Terraform stacks declaring no backend (shared state).

    Read from the revision's ``truenorth.yaml`` (the controller checked it already) and
    each dependency's folder in the checkout.
    """
    wanted = ctx.stack.explicit_depends_on
    if not wanted:
        return ()
    spec = _spec(ctx)
    found = []
    for name in wanted:
        try:
            other = spec.stack(name)
        except KeyError:
            continue
        if other.engine != "terraform":
            continue
        try:
            folder = paths.resolve_inside(ctx.checkout, other.path)
        except paths.PathEscapeError:
            continue
        if folder.is_dir() and not configs.declares_backend(folder):
            found.append(Dependency(name=name, workspace=other.terraform.workspace))
    return tuple(found)


def migrate_local_state(invocation: invoking.Invocation, *, schema: str) -> None:
    """Move the stack's local state (this workspace) into its schema, once; never over a state.

    ``invocation`` is initialised with the ``pg`` backend and its workspace selected.
    """
    ctx = invocation.ctx
    local = _local_state(ctx.state_dir, ctx.stack.terraform.workspace)
    if local.is_symlink() or not local.is_file():
        return
    name = ctx.stack.name
    try:
        state = states.read_state_file(local)
    except (OSError, ValueError) as exc:
        raise protocol.EngineError(
            f"stack {name!r}: its local state {local} cannot be moved into PostgreSQL: {exc}; "
            "fix or remove the file"
        ) from None
    if states.is_empty(state):
        _set_aside(local, MIGRATED_SUFFIX)
        return
    pulled = invocation.run(configs.state_pull_argv(invocation.binary), what="state pull", raw=True)
    try:
        shared = states.parse_state(pulled.stdout, where="the pulled state")
    except ValueError as exc:
        raise protocol.EngineError(f"stack {name!r}: {exc}") from None
    del pulled
    if not states.is_empty(shared):
        kept = _set_aside(local, NOT_MIGRATED_SUFFIX)
        _say(
            ctx,
            f"truenorth: the stack's state is already in PostgreSQL (schema {schema}); this "
            f"replica's older local state was not copied over it and is kept as {kept.name}",
        )
        return
    # Without -force: Terraform's own lineage and serial checks stay on as a second guard.
    invocation.run(configs.state_push_argv(invocation.binary, local), what="state push", stream=True)
    kept = _set_aside(local, MIGRATED_SUFFIX)
    _say(
        ctx,
        f"truenorth: moved the stack's local Terraform state into PostgreSQL (schema {schema}); "
        f"the local file is kept as {kept.name}",
    )


def create_workspace(invocation: invoking.Invocation) -> None:
    """Write an empty state into the stack's workspace that has none yet (see the module).

    ``invocation`` is initialised with the ``pg`` backend and its workspace selected, and
    its state pulls as never written (no lineage). The file pushed is private (0600) and
    removed at once; Terraform lets a later push of a real state (:func:`migrate_local_state`)
    replace an empty one whatever its lineage.
    """
    ctx = invocation.ctx
    fd, name = tempfile.mkstemp(dir=ctx.state_dir, prefix=".new-workspace-", suffix=".tfstate")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(states.empty_state())
        invocation.run(configs.state_push_argv(invocation.binary, path), what="state push (new workspace)")
    finally:
        path.unlink(missing_ok=True)


def refuse_moved_state(ctx: protocol.StackContext) -> None:
    """Refuse a stack whose local state was moved into PostgreSQL, now run without it.

    Planning it would start from an empty state and propose to create everything again.
    """
    local = _local_state(ctx.state_dir, ctx.stack.terraform.workspace)
    if local.exists() or not any(
        local.with_name(local.name + suffix).is_file() for suffix in (MIGRATED_SUFFIX, NOT_MIGRATED_SUFFIX)
    ):
        return
    raise protocol.EngineError(
        f"stack {ctx.stack.name!r}: its Terraform state was moved into PostgreSQL (the pg backend, "
        "its own schema) when controller replicas shared a PostgreSQL store, and this controller "
        "keeps Terraform state locally: bring the state back first (terraform state pull from "
        f"the stack's schema into {local}), or run the controller on that store again"
    )


def dependency_states(
    ctx: protocol.StackContext,
    wanted: Sequence[Dependency],
    *,
    binary: str,
    binary_identity: str,
    env: dict[str, str],
    confinement: invoking.Confinement | None,
    deadline: float,
    work: Path | None = None,
) -> dict[str, tuple[Path, ...]]:
    """Each dependency's state pulled from its schema, as the files to link (see the module).

    ``env`` is Terraform's base environment (no stack secrets, no inputs); each pull
    gets its own ``TF_DATA_DIR`` and the connection string. The sensitive outputs of
    what was pulled are registered with the redactor. ``work``: the folder holding the
    pull dirs (default the stack's state dir; a read-only plan's own area, see
    :func:`.preparing.prepare`).
    """
    shared = _shared(ctx)
    found: dict[str, tuple[Path, ...]] = {}
    for dependency in wanted:
        folder = _private_dir(work or ctx.state_dir, DEPENDENCIES_FOLDER, dependency.name)
        try:
            backend = pgstate.backend_for(shared.repository, dependency.name, conn_str=shared.postgres_url)
        except ValueError as exc:
            raise protocol.EngineError(f"stack {ctx.stack.name!r}: shared Terraform state: {exc}") from None
        _write_if_changed(folder / configs.BACKEND_FILE, backend.file_text)
        data_dir = folder / "data"
        command_env = {**env, "TF_DATA_DIR": str(data_dir), **backend.env}
        invocation = invoking.Invocation(
            ctx=ctx,
            binary=binary,
            cwd=folder,
            tree=folder,
            env=command_env,
            deadline=deadline,
            confinement=confinement,
            retrying=RETRYING,
        )
        what = f"reading the state of {dependency.name!r}"
        key = hashlib.sha256(
            "\0".join((binary_identity, env.get("TF_CLI_CONFIG_FILE", ""), backend.file_text)).encode()
        ).hexdigest()
        marker = folder / _INIT_MARKER
        if not (data_dir.is_dir() and marker.is_file() and marker.read_text().strip() == key):
            marker.unlink(missing_ok=True)
            argv = [*configs.init_argv(binary), "-reconfigure"]
            invocation.run(argv, what=f"init for {what}")
            workdirs.replace_file(marker, key + "\n")
        if dependency.workspace != "default":
            invocation = _with_env(invocation, TF_WORKSPACE=dependency.workspace)
        pulled = invocation.run(configs.state_pull_argv(binary), what=f"state pull ({what})", raw=True)
        try:
            state = states.parse_state(pulled.stdout, where=f"the state of {dependency.name!r}")
        except ValueError as exc:
            raise protocol.EngineError(f"stack {ctx.stack.name!r}: {exc}") from None
        text = pulled.stdout
        del pulled
        pulled_dir = _private_dir(folder, "state")
        if dependency.workspace == "default":
            target = pulled_dir / _STATE_NAME
        else:
            target = _private_dir(pulled_dir, _WORKSPACES, dependency.workspace) / _STATE_NAME
        if states.is_empty(state):
            local = _local_dependency_state(ctx, dependency)
            if local is not None:  # not migrated yet: this replica's local state is the one
                found[dependency.name] = local
                continue
            text = "" if _holds_empty_state(target) else states.empty_state()
        ctx.redactor.add(*states.sensitive_outputs(state))
        if text and (
            target.is_symlink() or not target.is_file() or target.read_text(encoding="utf-8") != text
        ):
            workdirs.replace_file(target, text)
        top = pulled_dir / (_STATE_NAME if dependency.workspace == "default" else _WORKSPACES)
        found[dependency.name] = (top,)
    return found


def _local_dependency_state(ctx: protocol.StackContext, dependency: Dependency) -> tuple[Path, ...] | None:
    """The dependency's local files in this data dir, when they hold a non-empty state."""
    folder = ctx.state_dir.parent / dependency.name
    try:
        state = states.read_state_file(_local_state(folder, dependency.workspace))
    except (OSError, ValueError):
        return None
    if states.is_empty(state):
        return None
    ctx.redactor.add(*states.sensitive_outputs(state))
    return tuple(folder / item for item in (_STATE_NAME, _WORKSPACES) if (folder / item).exists())


def _private_dir(base: Path, *names: str) -> Path:
    """``base/names...`` as real folders (0700), never through a link a program left there."""
    folder = base
    for name in names:
        folder = folder / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            folder.unlink()
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _holds_empty_state(path: Path) -> bool:
    if path.is_symlink():
        return False
    try:
        state = states.read_state_file(path)
    except (OSError, ValueError):
        return False
    return state is not None and states.is_empty(state)


def _shared(ctx: protocol.StackContext) -> protocol.SharedState:
    shared = ctx.shared_state
    if shared is None:  # a caller's bug: only asked with shared state
        raise protocol.EngineError(f"stack {ctx.stack.name!r}: no shared state is configured")
    return shared


def _spec(ctx: protocol.StackContext) -> specs.RepoSpec:
    name = ctx.stack.name
    try:
        path = paths.resolve_inside(ctx.checkout, specs.SPEC_FILENAME)
        if path.stat().st_size > specs.MAX_SPEC_BYTES:
            raise ValueError("too large")
        return specs.parse_spec(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, paths.PathEscapeError):
        raise protocol.EngineError(
            f"stack {name!r}: the revision's {specs.SPEC_FILENAME} cannot be read to find which "
            "dependencies keep their state in PostgreSQL"
        ) from None


def _local_state(folder: Path, workspace: str) -> Path:
    if workspace == "default":
        return folder / _STATE_NAME
    return folder / _WORKSPACES / workspace / _STATE_NAME


def _set_aside(local: Path, suffix: str) -> Path:
    kept = local.with_name(local.name + suffix)
    os.replace(local, kept)
    kept.chmod(0o600)
    return kept


def _say(ctx: protocol.StackContext, line: str) -> None:
    if ctx.on_output is not None:
        ctx.on_output(ctx.redactor(line))


def _with_env(invocation: invoking.Invocation, **extra: str) -> invoking.Invocation:
    return dataclasses.replace(invocation, env={**invocation.env, **extra})


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        workdirs.replace_file(path, text)
