"""The Terraform engine: plan, apply and drift-check one stack with the real CLI.

:class:`TerraformEngine` implements :class:`~truenorth.engines.protocol.Engine` for
Terraform and OpenTofu (``binary: tofu``). Each operation prepares the stack
(:mod:`.preparing`: checks, working copy, ``init``, workspace), runs the command, and
reads ``terraform show -json`` into a normalized, redacted
:class:`~truenorth.core.plans.Plan` (:mod:`.plans`). A change costs three Terraform
processes: ``plan``, ``show -json`` and ``apply``. ``init`` runs only when what it reads
changed (:mod:`.initkeys`), or when a plan says it is needed. The plan's JSON is read
once: the apply uses what this engine kept from that reading (the plan's secrets and
variables, for the plan file with that digest, in memory only); a plan made by another
process (the controller restarted before an approval) is shown again. An apply runs exactly the saved
plan file, and only while :mod:`.staleness` says it is still current. The plan's text
(``Plan.output``) is Terraform's own rendering of the saved plan, taken from the ``plan``
command's output (:mod:`.renderings`; no extra ``terraform show``), which the CLI prints.

Secrets: before any output is shown, the engine registers with ``ctx.redactor`` the
context's secrets, the sensitive outputs of this stack's state and of the states of
the stacks it depends on, and, once the plan exists, every value the plan marks
sensitive and the sensitive outputs of every local state it reads through
``terraform_remote_state`` (Terraform forgets their sensitivity). Terraform's own
artifacts (state files, plan files) hold secrets in clear text and stay in the stack's
private state dir (plan files 0600). The run dir gets only redacted text.

Inputs and outputs (issue #11): the stack's resolved ``ctx.inputs`` reach Terraform as
``TF_VAR_<name>`` (:mod:`.inputs`), are checked against the root module's variables as
the saved plan's configuration declares them (an undeclared one, or a sensitive one
whose variable is not ``sensitive = true``, is an error and the plan file is removed),
and their digests are part of the plan's fingerprint. A plan records them
(``Plan.inputs``) and the outputs it expects with known values
(``Plan.planned_outputs``); a successful apply reports the root module's outputs
(``RunResult.outputs``, :mod:`.outputs`), read from the local state file Terraform
just wrote or, for another backend, ``output -json``. Sensitive input values are added
to the redactor before anything runs; an output holding any known secret is reported
sensitive even when Terraform forgot it was.

Reading a declared dependency's state, and the sandbox every command runs in: see
:mod:`.preparing`; with replicas, the state of stacks without a backend is in PostgreSQL
(:mod:`.sharing`) and plans read it with ``-lock=false``. A read-only plan (``ctx.read_only``:
a merge request's preview, which runs without the stack's lock) works in an area of its
own with a copy of the stack's local state, plans with ``-lock=false``, and leaves the
state dir untouched (:mod:`.preparing`); its plan file is removed with that area, so it
can never be applied. Each plan records whether its commands were sandboxed
(``meta["sandbox"]``: ``bubblewrap``, ``off``, or ``unavailable: <why>``), and so does
each apply (``meta["apply_sandbox"]`` of the plan it returns).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from truenorth.core import outputs as stack_outputs
from truenorth.core import plans as core_plans
from truenorth.core import runs
from truenorth.engines import protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.terraform import (
    binaries,
    configs,
    invoking,
    plans,
    preparing,
    renderings,
    sharing,
    staleness,
    states,
)
from truenorth.engines.terraform import inputs as tf_inputs
from truenorth.engines.terraform import outputs as tf_outputs

__all__ = ["DEFAULT_TIMEOUT", "TerraformEngine"]

#: Seconds for commands run outside an operation (``version``).
DEFAULT_TIMEOUT = 60.0

_SAFE_FILE_PART = re.compile(r"^[0-9A-Za-z._-]{1,128}$")
_STALE = "Saved plan is stale"
#: Plan readings kept for a later apply (secrets and variables only; the oldest go first).
_MAX_READINGS = 256


@dataclasses.dataclass(frozen=True)
class _Recalled:
    """What an apply needs from the reading of a plan file this engine made."""

    digest: str
    reading: plans.PlanReading = dataclasses.field(repr=False)
    remote_paths: tuple[str, ...] = ()


class TerraformEngine:
    """Drives ``terraform`` (or ``tofu``) for stacks with ``engine: terraform``."""

    name = "terraform"

    def __init__(
        self, *, binary_paths: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """``binary_paths`` maps ``terraform``/``tofu`` to executables (default: PATH)."""
        self._binaries = binaries.Binaries(paths=binary_paths, timeout=timeout)
        # What each plan file this engine made needs at apply time (see _remember).
        self._readings: OrderedDict[str, _Recalled] = OrderedDict()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- protocol

    def plan(self, ctx: protocol.StackContext) -> core_plans.Plan:
        """Plan ``ctx.revision``; the plan file is kept for :meth:`apply`."""
        return self._plan(ctx, kind="plan")

    def drift(self, ctx: protocol.StackContext) -> core_plans.Plan:
        """A normal (refreshing) plan at the deployed revision: changes mean drift.

        Not ``-refresh-only``: a dependency's output read through remote state that
        changed must show as changes to this stack's resources.
        """
        return self._plan(ctx, kind="drift")

    def apply(self, ctx: protocol.StackContext, plan: core_plans.Plan) -> runs.RunResult:
        """Apply exactly ``plan``'s saved plan file; refuse it when it is stale."""
        started = datetime.now(UTC)
        output = ""
        confined: list[bool] = []
        outputs: tuple[stack_outputs.Output, ...] = ()
        try:
            status, output, error, outputs = self._apply(ctx, plan, confined=confined)
        except invoking.OperationCancelled as exc:
            status, error = runs.RunStatus.CANCELLED, ctx.redactor(str(exc))
        except protocol.EngineError as exc:
            status, error = runs.RunStatus.FAILED, ctx.redactor(str(exc))
        except OSError as exc:
            status, error = (
                runs.RunStatus.FAILED,
                ctx.redactor(f"stack {ctx.stack.name!r}: apply failed: {exc}"),
            )
        _write_artifact(ctx, "terraform-apply.txt", output + (f"\n{error}\n" if error else ""))
        if confined:
            meta = {**plan.meta, "apply_sandbox": sandboxing.describe(confined[0], ctx.sandbox.mode)}
            plan = dataclasses.replace(plan, meta=meta)
        return protocol.apply_result(
            ctx, plan, started=started, status=status, output=output, error=error, outputs=outputs
        )

    def version(self) -> str | None:
        """The version of the ``terraform`` binary, or None when missing or unusable."""
        return self._binaries.version("terraform")

    # ----------------------------------------------------------------- operations

    def _plan(self, ctx: protocol.StackContext, *, kind: str) -> core_plans.Plan:
        try:
            return self._planned(ctx, kind=kind)
        except OSError as exc:
            raise protocol.EngineError(
                ctx.redactor(f"stack {ctx.stack.name!r}: {kind} failed: {exc}")
            ) from None

    def _planned(self, ctx: protocol.StackContext, *, kind: str) -> core_plans.Plan:
        deadline = time.monotonic() + ctx.timeout
        _register_known_secrets(ctx)
        binary = self._binary(ctx)
        with preparing.prepare(
            ctx, binary=binary.path, binary_identity=binary.identity, deadline=deadline
        ) as prepared:
            prep = prepared
            inv = prep.invocation
            state_id = self._read_state(ctx, prep, create=True)
            fingerprint = _fingerprint(ctx, prep, state_id)
            plan_file = _plan_file(
                ctx, folder=prep.plans_dir, suffix=".drift.tfplan" if kind == "drift" else ".tfplan"
            )
            plan_file.unlink(missing_ok=True)
            options = ctx.stack.terraform
            argv = configs.plan_argv(
                binary.path,
                plan_file=plan_file,
                variables=options.vars,
                var_files=[real for _, real in prep.var_files],
                # State shared by replicas: a plan (a preview's, a drift check's) never takes
                # the backend's lock, so it never makes an apply fail (see .sharing); nor
                # does a read-only plan (a preview, outside the stack's lock) any state's.
                lock=prep.shared_schema is None and not ctx.read_only,
            )
            result = inv.run(argv, what=kind, stream=True, check=False)
            if result.returncode not in (0, 2) and not prep.init_ran and preparing.needs_init(result):
                # Something init reads changed where the init key does not look: init now.
                plan_file.unlink(missing_ok=True)
                prep = preparing.reinit(prep)
                inv = prep.invocation
                result = inv.run(argv, what=kind, stream=True, check=False)
            if result.cancelled or result.timed_out or result.returncode not in (0, 2):
                raise inv.failure(result, what=kind)
            plan_file.chmod(0o600)
            artifact_digest = _digest(plan_file)
            reading, remote_paths = self._read_plan(ctx, prep, plan_file)
            if not ctx.read_only:  # a read-only plan's file goes with its area: never applied
                self._remember(plan_file, artifact_digest, reading, remote_paths)
            try:
                tf_inputs.check_declared(ctx.inputs, reading.variables, stack=ctx.stack.name)
            except protocol.EngineError:
                plan_file.unlink(missing_ok=True)
                raise
            changes = tuple(plans.redact_change(item, ctx.redactor) for item in reading.changes)
            # Terraform's own rendering of the saved plan (what `terraform show PLANFILE`
            # prints), unless the output limit cut it: then the CLI renders the changes.
            native = not result.limit
            shown = inv.clean(renderings.native_text(result.stdout) if native else result.stdout)
            plan = core_plans.Plan(
                stack=ctx.stack.name,
                engine=self.name,
                revision=ctx.revision,
                changes=changes,
                summary=core_plans.summarize(changes),
                output=shown,
                artifact=str(plan_file),
                fingerprint=fingerprint,
                meta={
                    "kind": kind,
                    "workspace": options.workspace,
                    "binary": options.binary,
                    "binary_version": binary.version,
                    "terraform_version": reading.terraform_version,
                    "drifted": list(reading.drifted),
                    "init_ran": prep.init_ran,
                    "sandbox": sandboxing.describe(inv.sandboxed, ctx.sandbox.mode),
                    staleness.ARTIFACT_DIGEST_KEY: artifact_digest,
                    renderings.NATIVE_TEXT: native,
                },
                inputs=tf_inputs.ordered(ctx.inputs),
                planned_outputs=tf_outputs.guarded(reading.planned_outputs, ctx.redactor),
            )
        _write_artifact(ctx, f"terraform-{kind}.txt", plan.output)
        _write_artifact(ctx, f"{kind}.json", json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
        return plan

    def _apply(
        self, ctx: protocol.StackContext, plan: core_plans.Plan, *, confined: list[bool]
    ) -> tuple[runs.RunStatus, str, str, tuple[stack_outputs.Output, ...]]:
        """Apply ``plan``; return (status, output, error, outputs), both texts redacted.

        ``confined`` hears whether the commands ran sandboxed, once they are about to run.
        ``outputs`` are the stack's outputs after a successful apply (else empty).
        """
        failed = runs.RunStatus.FAILED
        refused = f"stack {ctx.stack.name!r}: refused to apply: "
        reason = staleness.identity_reason(plan, stack=ctx.stack.name, revision=ctx.revision)
        if not reason and (plan.waiting_for or stack_outputs.unknown_inputs(ctx.inputs)):
            waiting = plan.waiting_for or stack_outputs.unknown_inputs(ctx.inputs)
            reason = f"input {waiting[0].name} is not known yet {waiting[0].placeholder()}"
        if reason:
            return failed, "", refused + reason, ()
        plan_file = Path(str(plan.artifact))
        if plan_file.resolve().parent != (ctx.state_dir / "plans").resolve():
            return failed, "", refused + "the plan file is not one of this stack's plans", ()
        if not plan_file.is_file():
            return (
                failed,
                "",
                refused + "the saved plan file is gone (already applied, or removed); plan again",
                (),
            )
        deadline = time.monotonic() + ctx.timeout
        _register_known_secrets(ctx)
        binary = self._binary(ctx)
        with preparing.prepare(
            ctx, binary=binary.path, binary_identity=binary.identity, deadline=deadline
        ) as prep:
            inv = prep.invocation
            confined.append(inv.sandboxed)
            state_id = self._read_state(ctx, prep)
            artifact_digest = _digest(plan_file) if plan_file.is_file() else None
            reason = staleness.inputs_reason(
                plan,
                current_fingerprint=_fingerprint(ctx, prep, state_id),
                artifact_digest=artifact_digest,
            )
            if reason:
                return failed, "", refused + reason, ()
            # The plan's secrets registered first: from this engine's own reading of the
            # plan file (same digest) when it made the plan, else from `show -json`.
            reading = self._recall(ctx, prep, plan_file, artifact_digest)
            tf_inputs.check_declared(ctx.inputs, reading.variables, stack=ctx.stack.name)
            argv = configs.apply_argv(binary.path, plan_file)
            # An apply runs to its end even if the controller dies: interrupting it could
            # report a provisioner that has just completed as failed, and run it again.
            result = inv.run(argv, what="apply", stream=True, check=False, finish_alone=True)
            output = inv.clean(result.stdout)
            if result.ok:
                plan_file.unlink(missing_ok=True)
                try:
                    outputs = self._read_outputs(ctx, prep)
                except protocol.EngineError as exc:
                    return failed, output, f"{exc}; the changes themselves were applied", ()
                return runs.RunStatus.SUCCEEDED, output, "", outputs
            if result.cancelled:
                return runs.RunStatus.CANCELLED, output, str(inv.failure(result, what="apply")), ()
            if not result.timed_out and _STALE in result.stderr + result.stdout:
                return (
                    failed,
                    output,
                    refused
                    + (
                        "Terraform reports the saved plan is stale (the state changed after the plan "
                        "was made); plan again"
                    ),
                    (),
                )
            return failed, output, str(inv.failure(result, what="apply")), ()

    # ----------------------------------------------------------------- helpers

    def _remember(
        self, plan_file: Path, artifact_digest: str, reading: plans.PlanReading, remote_paths: tuple[str, ...]
    ) -> None:
        """Keep what an apply of ``plan_file`` needs from its reading (its secrets, its variables)."""
        kept = _Recalled(
            digest=artifact_digest,
            reading=plans.PlanReading(changes=(), secrets=reading.secrets, variables=reading.variables),
            remote_paths=remote_paths,
        )
        with self._lock:
            self._readings.pop(str(plan_file), None)
            self._readings[str(plan_file)] = kept
            while len(self._readings) > _MAX_READINGS:
                self._readings.popitem(last=False)

    def _recall(
        self,
        ctx: protocol.StackContext,
        prep: preparing.Prepared,
        plan_file: Path,
        artifact_digest: str | None,
    ) -> plans.PlanReading:
        """The reading :meth:`_remember` kept for this very plan file, its secrets registered.

        A plan made by another process (or changed since: another digest) is read again
        with ``show -json``. Either way the sensitive outputs of the states the plan reads
        through ``terraform_remote_state`` are read now, as they are at apply time.
        """
        with self._lock:
            kept = self._readings.pop(str(plan_file), None)
        if kept is None or kept.digest != artifact_digest:
            return self._read_plan(ctx, prep, plan_file)[0]
        ctx.redactor.add(*kept.reading.secrets)
        for path in kept.remote_paths:
            ctx.redactor.add(*_sensitive_outputs_of(prep.cwd / path))
        return kept.reading

    def _read_plan(
        self, ctx: protocol.StackContext, prep: preparing.Prepared, plan_file: Path
    ) -> tuple[plans.PlanReading, tuple[str, ...]]:
        """``show -json`` the plan file; register its secrets; drop the raw JSON.

        Returns the reading and the paths of the local states it reads through
        ``terraform_remote_state``.
        """
        inv = prep.invocation
        shown = inv.run(configs.show_argv(inv.binary, plan_file), what="show", raw=True)
        try:
            document = json.loads(shown.stdout)
        except ValueError:
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: `show -json` did not print a JSON plan"
            ) from None
        del shown
        reading = plans.read_plan(document)
        remote_paths = tuple(plans.remote_state_paths(document))
        del document
        ctx.redactor.add(*reading.secrets)
        for path in remote_paths:
            ctx.redactor.add(*_sensitive_outputs_of(prep.cwd / path))
        return reading, remote_paths

    def _read_outputs(
        self, ctx: protocol.StackContext, prep: preparing.Prepared
    ) -> tuple[stack_outputs.Output, ...]:
        """The root module's outputs just after an apply; their secrets registered.

        A ``local`` backend's state file is read as Terraform just wrote it; another
        backend's outputs come from ``output -json``, machine-read and never streamed.
        """
        local = states.local_state_path(prep.backend, workspace=ctx.stack.terraform.workspace, cwd=prep.cwd)
        try:
            if local is not None:
                state = states.read_state_file(local)
                found = tf_outputs.read_outputs(state.get("outputs") if state else None)
            else:
                inv = prep.invocation
                shown = inv.run(configs.output_argv(inv.binary), what="output", raw=True)
                found = tf_outputs.read_outputs(json.loads(shown.stdout or "{}"))
                del shown
        except (OSError, ValueError):
            raise protocol.EngineError(
                f"stack {ctx.stack.name!r}: its outputs could not be read after the apply"
            ) from None
        ctx.redactor.add(*tf_outputs.secrets_of(found))
        return tf_outputs.guarded(found, ctx.redactor)

    def _read_state(
        self, ctx: protocol.StackContext, prep: preparing.Prepared, *, create: bool = False
    ) -> str:
        """This stack's state identity; registers the state's sensitive outputs.

        ``create`` (a plan that may write): a workspace in the shared ``pg`` backend that
        has no state yet gets an empty one first, so that its first apply holds the
        backend's database-wide creation lock only for an instant (:mod:`.sharing`).
        """
        local = states.local_state_path(prep.backend, workspace=ctx.stack.terraform.workspace, cwd=prep.cwd)
        try:
            if local is not None:
                state = states.read_state_file(local)
            else:
                inv = prep.invocation
                pulled = inv.run(configs.state_pull_argv(inv.binary), what="state pull", raw=True)
                state = states.parse_state(pulled.stdout, where="the pulled state")
                never_written = not (state or {}).get("lineage")
                if create and never_written and prep.shared_schema is not None and not ctx.read_only:
                    sharing.create_workspace(inv)
                    pulled = inv.run(configs.state_pull_argv(inv.binary), what="state pull", raw=True)
                    state = states.parse_state(pulled.stdout, where="the pulled state")
        except ValueError as exc:
            raise protocol.EngineError(f"stack {ctx.stack.name!r}: {exc}") from None
        ctx.redactor.add(*states.sensitive_outputs(state))
        return states.identity(state)

    def _binary(self, ctx: protocol.StackContext) -> binaries.Binary:
        """The stack's vetted binary; EngineError naming the stack when it is unusable."""
        try:
            return self._binaries.checked(ctx.stack.terraform.binary)
        except binaries.BinaryError as exc:
            raise protocol.EngineError(ctx.redactor(f"stack {ctx.stack.name!r}: {exc}")) from None


def _register_known_secrets(ctx: protocol.StackContext) -> None:
    """Before anything runs: the context's secrets and the dependencies' sensitive outputs.

    Dependencies (``depends_on``) are the stacks whose outputs this one may read through
    remote state, where Terraform forgets their sensitivity; registering them first keeps
    them out of the live output too, not only out of the finished plan.
    """
    ctx.redactor.add(*ctx.secrets.values())
    ctx.redactor.add(*stack_outputs.sensitive_values(ctx.inputs))
    for dependency in ctx.stack.explicit_depends_on:
        folder = ctx.state_dir.parent / dependency
        workspaces = sorted(folder.glob("terraform.tfstate.d/*/terraform.tfstate"))
        for path in [folder / "terraform.tfstate", *workspaces]:
            ctx.redactor.add(*_sensitive_outputs_of(path))


def _fingerprint(ctx: protocol.StackContext, prep: preparing.Prepared, state_id: str) -> str:
    options = ctx.stack.terraform
    return staleness.fingerprint(
        revision=ctx.revision,
        state=state_id,
        workspace=options.workspace,
        variables=options.vars,
        var_files=[(name, _digest(real)) for name, real in prep.var_files],
        inputs=tf_inputs.digests(ctx.inputs),
    )


def _plan_file(ctx: protocol.StackContext, *, folder: Path | None, suffix: str) -> Path:
    """The plan file of ``ctx.revision`` in ``folder`` (default: the state dir's ``plans/``)."""
    folder = folder or ctx.state_dir / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    stem = (
        ctx.revision
        if _SAFE_FILE_PART.match(ctx.revision)
        else hashlib.sha256(ctx.revision.encode()).hexdigest()
    )
    return folder / f"{stem}{suffix}"


def _sensitive_outputs_of(path: Path) -> Iterable[str]:
    """Sensitive output values of the local state at ``path``; nothing if unreadable."""
    try:
        return states.sensitive_outputs(states.read_state_file(path))
    except (OSError, ValueError):
        return ()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_artifact(ctx: protocol.StackContext, name: str, text: str) -> None:
    """A redacted text artifact in the run dir (history; never secret)."""
    try:
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        (ctx.run_dir / name).write_text(ctx.redactor(text), encoding="utf-8")
    except OSError:
        pass  # the result itself carries the text; a full disk must not hide it
