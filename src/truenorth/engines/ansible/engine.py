"""The Ansible engine: check-mode plans, real runs and drift checks of ``engine: ansible`` stacks.

A plan is ``ansible-playbook --check --diff`` read host by host and task by task
(:mod:`.checks`); an apply is the real run of the same revision, streamed live and
redacted into the run log, with a result per host (:mod:`.recaps`); drift is a plan at
the deployed revision that names the hosts that would change. An ``auto_apply`` converge
(:meth:`AnsibleEngine.converge`) is one real run with no check mode first, read as a
plan the same way (:mod:`.checks`) so its history shows what changed. Inputs are checked first
(:mod:`.inputs`, and :mod:`.confining`: the repository's ``ansible.cfg`` is ignored and
an executable inventory refused unless the operator allows them), ansible-runner does
the running (:mod:`.running`), in the sandbox. The stack's ``inputs:`` reach the
playbook as extra vars (a private vars file in the run's folder, deleted once Ansible
has read it); what the playbook hands out with ``set_stats`` becomes the outputs of a
successful apply (:mod:`.stats`), and of a plan when check mode predicted every task.
Errors that concern
only this stack (missing playbook, YAML error, undefined variable, wrong vault
password, missing binary) are raised as :class:`~truenorth.engines.protocol.EngineError`
by ``plan``/``drift`` and come back as a failed result from ``apply``.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path

from truenorth.core import outputs, plans, redaction, runs
from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.ansible import checks, confining, events, inputs, recaps, running, stats

__all__ = ["AnsibleEngine"]

_TAIL_CHARS = 3000


class AnsibleEngine:
    """Plans and applies Ansible stacks through ansible-runner.

    ``playbook_binary`` is looked up on PATH with this interpreter's bin folder first;
    ``timeout``, when set, caps every run below the context's own timeout.
    """

    name = "ansible"
    #: An ``auto_apply`` converge is one real run, no check-mode run first (:meth:`converge`).
    converges_without_plan = True

    def __init__(self, *, playbook_binary: str = "ansible-playbook", timeout: float | None = None) -> None:
        self._binary = playbook_binary
        self._timeout = timeout
        self._version: str | None = None

    # ------------------------------------------------------------------ protocol

    def plan(self, ctx: protocol.StackContext) -> plans.Plan:
        """Run the playbook in check mode and return the per-host, per-task plan."""
        return self._check(ctx, label="plan")

    def drift(self, ctx: protocol.StackContext) -> plans.Plan:
        """Check mode at the deployed revision: changes mean drift, ``meta["drifted_hosts"]`` names where."""
        return self._check(ctx, label="drift")

    def apply(self, ctx: protocol.StackContext, plan: plans.Plan) -> runs.RunResult:
        """Run the playbook for real (the plan's revision); never raises for engine failures."""
        started = datetime.now(UTC)
        confined: list[bool] = []
        found: list[tuple[outputs.Output, ...]] = []
        status, error, output, hosts = self._apply(ctx, plan, confined=confined, found=found)
        if confined:  # the run records whether the apply itself was sandboxed
            meta = {**plan.meta, "apply_sandbox": sandboxing.describe(confined[0], ctx.sandbox.mode)}
            plan = dataclasses.replace(plan, meta=meta)
        return protocol.apply_result(
            ctx,
            plan,
            started=started,
            status=status,
            output=output,
            error=error,
            hosts=hosts,
            outputs=found[0] if found else (),
        )

    def converge(self, ctx: protocol.StackContext) -> runs.RunResult:
        """Run the playbook for real with no plan first (an ``auto_apply`` converge).

        The result's plan is the real run read as a plan: what each task changed, with
        its diff (``--diff``), so the run's history shows what changed as a plan would.
        Never raises for engine failures.
        """
        started = datetime.now(UTC)
        confined: list[bool] = []
        found: list[tuple[outputs.Output, ...]] = []
        ran: list[running.Outcome] = []
        status, error, output, hosts = self._apply(ctx, None, confined=confined, found=found, ran=ran)
        report = checks.CheckReport(changes=(), hosts=(), unreachable_hosts=(), failed_hosts=(), failures=())
        if ran:
            notes = tuple(note for note in map(events.parse_note, ran[0].notes) if note is not None)
            recap = events.find_recap(ran[0].events)
            report = checks.read_check(
                events.task_outcomes(ran[0].events),
                notes,
                hosts=recap.hosts if recap is not None else (),
                redactor=ctx.redactor,
                check=False,
            )
        meta: dict[str, object] = {
            "kind": "converge",
            "hosts": list(report.hosts),
            "changed_hosts": list(report.changed_hosts),
            "failed_hosts": list(report.failed_hosts),
            "failures": list(report.failures),
            "unreachable": list(report.unreachable),
        }
        if confined:
            meta["apply_sandbox"] = sandboxing.describe(confined[0], ctx.sandbox.mode)
        plan = plans.Plan(
            inputs=tuple(ctx.inputs[name] for name in sorted(ctx.inputs)),
            stack=ctx.stack.name,
            engine=self.name,
            revision=ctx.revision,
            changes=report.changes,
            summary=plans.summarize(report.changes, hosts_unreachable=report.unreachable_hosts),
            fingerprint=inputs.fingerprint(ctx),
            unreachable_hosts=report.unreachable_hosts,
            meta=meta,
        )
        return protocol.apply_result(
            ctx,
            plan,
            started=started,
            status=status,
            output=output,
            error=error,
            hosts=hosts,
            outputs=found[0] if found else (),
        )

    def version(self) -> str | None:
        """ansible-core's version as ``ansible-playbook --version`` reports it, or None."""
        if self._version is not None:
            return self._version
        binary = shutil.which(self._binary, path=running.search_path())
        if binary is None:
            return None
        try:
            done = processes.run(
                [binary, "--version"],
                cwd=Path.home(),
                env={"PATH": running.search_path(), "HOME": str(Path.home()), "ANSIBLE_NOCOLOR": "1"},
                timeout=60,
                redactor=redaction.Redactor(),
            )
        except OSError:
            return None
        first = done.stdout.splitlines()[0] if done.stdout else ""
        if not done.ok or "[core " not in first:
            return None
        self._version = first.split("[core ", 1)[1].rstrip("]").strip()
        return self._version

    # ------------------------------------------------------------------ helpers

    def _apply(
        self,
        ctx: protocol.StackContext,
        plan: plans.Plan | None,
        *,
        confined: list[bool],
        found: list[tuple[outputs.Output, ...]],
        ran: list[running.Outcome] | None = None,
    ) -> tuple[runs.RunStatus, str, str, tuple[runs.HostResult, ...]]:
        """``(status, error, output, hosts)`` of a real run (of ``plan``; None: a converge).

        ``confined`` hears whether it was sandboxed, ``found`` the ``set_stats`` outputs
        of a successful run, ``ran`` the run itself once it ended.
        """
        failed = runs.RunStatus.FAILED
        stale = self._stale_reason(ctx, plan) if plan is not None else ""
        if stale:
            return failed, f"refusing to apply a stale plan: {stale}; plan again", "", ()
        try:
            ready = self._ready(ctx)
            outcome = self._run(ctx, ready, check=False, label="apply")
            confined.append(outcome.sandboxed)
            if ran is not None:
                ran.append(outcome)
        except protocol.EngineError as exc:
            return failed, str(exc), "", ()
        except OSError as exc:
            return failed, f"could not run ansible-playbook: {exc}", "", ()
        recap = events.find_recap(outcome.events)
        hosts = recaps.host_results(recap) if recap is not None else ()
        if outcome.cancelled:
            return runs.RunStatus.CANCELLED, "the run was cancelled", outcome.stdout, hosts
        if outcome.timed_out:
            return failed, f"the run timed out after {outcome.seconds:.0f}s", outcome.stdout, hosts
        if outcome.limit:
            return failed, f"ansible-playbook was stopped at a limit: {outcome.limit}", outcome.stdout, hosts
        if recap is None:
            return failed, _playbook_error(outcome), outcome.stdout, ()
        status = recaps.run_status(hosts, rc=outcome.rc, recap_seen=True)
        error = recaps.describe_problems(events.task_outcomes(outcome.events), hosts, redactor=ctx.redactor)
        if status is failed and not error:
            error = _playbook_error(outcome)
        if status is runs.RunStatus.SUCCEEDED:
            try:
                found.append(stats.read_outputs(outcome.stats or {}, ctx.stack.outputs))
            except stats.OutputsTooLargeError as exc:
                return failed, str(exc), outcome.stdout, hosts
        return status, error, outcome.stdout, hosts

    def _check(self, ctx: protocol.StackContext, *, label: str) -> plans.Plan:
        ready = self._ready(ctx)
        outcome = self._run(ctx, ready, check=True, label=label)
        if outcome.cancelled:
            raise protocol.EngineError("the check-mode run was cancelled")
        if outcome.timed_out:
            raise protocol.EngineError(f"the check-mode run timed out after {outcome.seconds:.0f}s")
        if outcome.limit:
            raise protocol.EngineError(f"ansible-playbook was stopped at a limit: {outcome.limit}")
        recap = events.find_recap(outcome.events)
        if recap is None:
            raise protocol.EngineError(_playbook_error(outcome))
        notes = tuple(note for note in map(events.parse_note, outcome.notes) if note is not None)
        report = checks.read_check(
            events.task_outcomes(outcome.events), notes, hosts=recap.hosts, redactor=ctx.redactor
        )
        summary = plans.summarize(report.changes, hosts_unreachable=report.unreachable_hosts)
        plan = plans.Plan(
            inputs=tuple(ctx.inputs[name] for name in sorted(ctx.inputs)),
            planned_outputs=_planned_outputs(ctx, outcome, report),
            stack=ctx.stack.name,
            engine=self.name,
            revision=ctx.revision,
            changes=report.changes,
            summary=summary,
            output=outcome.stdout,
            fingerprint=inputs.fingerprint(ctx),
            unreachable_hosts=report.unreachable_hosts,
            meta={
                "hosts": list(report.hosts),
                "changed_hosts": list(report.changed_hosts),
                "drifted_hosts": list(report.changed_hosts),
                "unknown_hosts": sorted(
                    {
                        item.host
                        for item in report.changes
                        if item.host and item.action is plans.Action.UNKNOWN
                    }
                ),
                "failed_hosts": list(report.failed_hosts),
                "failures": list(report.failures),
                "unreachable": list(report.unreachable),
                plans.PARTIAL: report.partial,
                "vault_files": list(ready.vault_files),
                "kind": label,
                "sandbox": sandboxing.describe(outcome.sandboxed, ctx.sandbox.mode),
                "ansible_cfg": _config_use(ready.stack_dir, ctx.sandbox),
            },
        )
        if report.nothing_checked:
            # What check mode saw before every host failed is kept: shown, never applied.
            raise protocol.PartialPlanError(
                ctx.redactor("check mode failed on every host:\n" + "\n".join(report.failures)), plan=plan
            )
        return plan

    def _ready(self, ctx: protocol.StackContext) -> inputs.AnsibleInputs:
        """The stack's checked inputs, its inventory vetted, and a word in the log about ansible.cfg."""
        ready = inputs.prepare(ctx)
        confining.check_inventory(ready.inventory, stack_dir=ready.stack_dir, policy=ctx.sandbox)
        note = confining.ignored_config_note(ready.stack_dir, policy=ctx.sandbox)
        if note is not None and ctx.on_output is not None:
            ctx.on_output(note)
        return ready

    def _run(
        self, ctx: protocol.StackContext, ready: inputs.AnsibleInputs, *, check: bool, label: str
    ) -> running.Outcome:
        binary = shutil.which(self._binary, path=running.search_path())
        if binary is None:
            raise protocol.EngineError(
                f"{self._binary} is not installed or not on PATH (ansible-core provides it)"
            )
        timeout = ctx.timeout if self._timeout is None else min(ctx.timeout, self._timeout)
        invocation = running.Invocation(
            binary=binary,
            stack_dir=ready.stack_dir,
            playbook=ready.playbook,
            artifacts_dir=Path(ctx.run_dir) / "artifacts" / label,
            timeout=timeout,
            check=check,
            inventory=ready.inventory,
            limit=ready.limit,
            extra_vars=ready.all_vars,
            vars_dir=Path(ctx.run_dir),
            sensitive_outputs=frozenset(item.name for item in ctx.stack.outputs if item.sensitive),
            vault_password=ready.vault_password,
            checkout=ctx.checkout,
            policy=ctx.sandbox,
            limits=ctx.limits,
        )
        return running.run_playbook(invocation, redactor=ctx.redactor, cancel=ctx.cancel, sink=ctx.on_output)

    def _stale_reason(self, ctx: protocol.StackContext, plan: plans.Plan) -> str:
        if plan.engine != self.name or plan.stack != ctx.stack.name:
            return f"the plan is for {plan.engine} stack {plan.stack!r}"
        if plan.revision != ctx.revision:
            return f"the plan is for revision {plan.revision[:12]}, not {ctx.revision[:12]}"
        if plan.fingerprint != inputs.fingerprint(ctx):
            return "the stack's options changed since the plan was made"
        return ""


def _planned_outputs(
    ctx: protocol.StackContext, outcome: running.Outcome, report: checks.CheckReport
) -> tuple[outputs.Output, ...]:
    """The ``set_stats`` outputs of a check run, when check mode predicted every task; else none.

    A task check mode skipped or could not predict may feed a ``set_stats`` value, so a
    plan with an unknown change, a failed or an unreachable host plans no outputs.
    """
    if outcome.stats is None or report.unreachable_hosts or report.failed_hosts:
        return ()
    if any(item.action is plans.Action.UNKNOWN for item in report.changes):
        return ()
    try:
        return stats.read_outputs(outcome.stats, ctx.stack.outputs)
    except stats.OutputsTooLargeError as exc:
        raise protocol.EngineError(str(exc)) from None


def _config_use(stack_dir: Path, policy: sandboxing.Policy) -> str:
    """What became of the repository's ``ansible.cfg``: ``none``, ``ignored`` or ``trusted``."""
    if not (stack_dir / confining.CONFIG_FILE).exists():
        return "none"
    return "trusted" if policy.trust_ansible_cfg else "ignored"


def _playbook_error(outcome: running.Outcome) -> str:
    """The reason a run ended before any host ran: Ansible's own error lines."""
    lines = outcome.stdout.strip().splitlines()
    errors = [index for index, line in enumerate(lines) if line.startswith(("[ERROR]", "ERROR!"))]
    text = "\n".join(lines[errors[0] :]) if errors else "\n".join(lines)
    text = text.strip()[-_TAIL_CHARS:]
    head = f"ansible-playbook failed (exit code {outcome.rc}) before any host ran"
    return f"{head}:\n{text}" if text else head
