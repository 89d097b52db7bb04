"""The Terraform engine: plan, apply and drift-check one stack with the real CLI.

:class:`TerraformEngine` implements :class:`~truenorth.engines.protocol.Engine` for
Terraform and OpenTofu (``binary: tofu``). Each operation prepares the stack
(:mod:`.preparing`: checks, working copy, ``init``, workspace), runs the command, and
reads ``terraform show -json`` into a normalized, redacted
:class:`~truenorth.core.plans.Plan` (:mod:`.plans`). An apply runs exactly the saved
plan file, and only while :mod:`.staleness` says it is still current.

Secrets: before any output is shown, the engine registers with ``ctx.redactor`` the
context's secrets, the sensitive outputs of this stack's state and of the states of
the stacks it depends on, and, once the plan exists, every value the plan marks
sensitive and the sensitive outputs of every local state it reads through
``terraform_remote_state`` (Terraform forgets their sensitivity). Terraform's own
artifacts (state files, plan files) hold secrets in clear text and stay in the stack's
private state dir (plan files 0600). The run dir gets only redacted text.

Reading a declared dependency's state, and the sandbox every command runs in: see
:mod:`.preparing`. Each plan records whether its commands were sandboxed
(``meta["sandbox"]``: ``bubblewrap``, ``off``, or ``unavailable: <why>``), and so does
each apply (``meta["apply_sandbox"]`` of the plan it returns).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from truenorth.core import plans as core_plans
from truenorth.core import runs
from truenorth.engines import protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.terraform import binaries, configs, invoking, plans, preparing, staleness, states

__all__ = ["DEFAULT_TIMEOUT", "TerraformEngine"]

#: Seconds for commands run outside an operation (``version``).
DEFAULT_TIMEOUT = 60.0

_SAFE_FILE_PART = re.compile(r"^[0-9A-Za-z._-]{1,128}$")
_STALE = "Saved plan is stale"


class TerraformEngine:
    """Drives ``terraform`` (or ``tofu``) for stacks with ``engine: terraform``."""

    name = "terraform"

    def __init__(
        self, *, binary_paths: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """``binary_paths`` maps ``terraform``/``tofu`` to executables (default: PATH)."""
        self._binaries = binaries.Binaries(paths=binary_paths, timeout=timeout)

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
        try:
            status, output, error = self._apply(ctx, plan, confined=confined)
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
        return protocol.apply_result(ctx, plan, started=started, status=status, output=output, error=error)

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
        ) as prep:
            inv = prep.invocation
            state_id = self._read_state(ctx, prep)
            fingerprint = _fingerprint(ctx, prep, state_id)
            plan_file = _plan_file(ctx, suffix=".drift.tfplan" if kind == "drift" else ".tfplan")
            plan_file.unlink(missing_ok=True)
            options = ctx.stack.terraform
            argv = configs.plan_argv(
                binary.path,
                plan_file=plan_file,
                variables=options.vars,
                var_files=[real for _, real in prep.var_files],
            )
            result = inv.run(argv, what=kind, ok_codes=(0, 2), stream=True)
            plan_file.chmod(0o600)
            reading = self._read_plan(ctx, prep, plan_file)
            changes = tuple(plans.redact_change(item, ctx.redactor) for item in reading.changes)
            plan = core_plans.Plan(
                stack=ctx.stack.name,
                engine=self.name,
                revision=ctx.revision,
                changes=changes,
                summary=core_plans.summarize(changes),
                output=inv.clean(result.stdout),
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
                    staleness.ARTIFACT_DIGEST_KEY: _digest(plan_file),
                },
            )
        _write_artifact(ctx, f"terraform-{kind}.txt", plan.output)
        _write_artifact(ctx, f"{kind}.json", json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n")
        return plan

    def _apply(
        self, ctx: protocol.StackContext, plan: core_plans.Plan, *, confined: list[bool]
    ) -> tuple[runs.RunStatus, str, str]:
        """Apply ``plan``; return (status, output, error), both texts redacted.

        ``confined`` hears whether the commands ran sandboxed, once they are about to run.
        """
        failed = runs.RunStatus.FAILED
        refused = f"stack {ctx.stack.name!r}: refused to apply: "
        reason = staleness.identity_reason(plan, stack=ctx.stack.name, revision=ctx.revision)
        if reason:
            return failed, "", refused + reason
        plan_file = Path(str(plan.artifact))
        if plan_file.resolve().parent != (ctx.state_dir / "plans").resolve():
            return failed, "", refused + "the plan file is not one of this stack's plans"
        if not plan_file.is_file():
            return (
                failed,
                "",
                refused + "the saved plan file is gone (already applied, or removed); plan again",
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
            reason = staleness.inputs_reason(
                plan,
                current_fingerprint=_fingerprint(ctx, prep, state_id),
                artifact_digest=_digest(plan_file) if plan_file.is_file() else None,
            )
            if reason:
                return failed, "", refused + reason
            self._read_plan(ctx, prep, plan_file)  # registers the plan's secrets first
            argv = configs.apply_argv(binary.path, plan_file)
            # An apply runs to its end even if the controller dies: interrupting it could
            # report a provisioner that has just completed as failed, and run it again.
            result = inv.run(argv, what="apply", stream=True, check=False, finish_alone=True)
            output = inv.clean(result.stdout)
            if result.ok:
                plan_file.unlink(missing_ok=True)
                return runs.RunStatus.SUCCEEDED, output, ""
            if result.cancelled:
                return runs.RunStatus.CANCELLED, output, str(inv.failure(result, what="apply"))
            if not result.timed_out and _STALE in result.stderr + result.stdout:
                return (
                    failed,
                    output,
                    refused
                    + (
                        "Terraform reports the saved plan is stale (the state changed after the plan "
                        "was made); plan again"
                    ),
                )
            return failed, output, str(inv.failure(result, what="apply"))

    # ----------------------------------------------------------------- helpers

    def _read_plan(
        self, ctx: protocol.StackContext, prep: preparing.Prepared, plan_file: Path
    ) -> plans.PlanReading:
        """``show -json`` the plan file; register its secrets; drop the raw JSON."""
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
        remote_paths = plans.remote_state_paths(document)
        del document
        ctx.redactor.add(*reading.secrets)
        for path in remote_paths:
            ctx.redactor.add(*_sensitive_outputs_of(prep.cwd / path))
        return reading

    def _read_state(self, ctx: protocol.StackContext, prep: preparing.Prepared) -> str:
        """This stack's state identity; registers the state's sensitive outputs."""
        local = states.local_state_path(prep.backend, workspace=ctx.stack.terraform.workspace, cwd=prep.cwd)
        try:
            if local is not None:
                state = states.read_state_file(local)
            else:
                inv = prep.invocation
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
    for dependency in ctx.stack.depends_on:
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
    )


def _plan_file(ctx: protocol.StackContext, *, suffix: str) -> Path:
    folder = ctx.state_dir / "plans"
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
