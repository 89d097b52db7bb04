"""``truenorth``: the command line entry point and its commands.

Local commands work on a data dir (``--data-dir``, ``TRUENORTH_DATA_DIR``, default
``./.truenorth``); those that run engines there (``plan``, ``apply``, ``drift``) refuse
while a controller (``truenorth serve``) holds it, and write its files private (umask 077). Exit codes follow ``terraform plan -detailed-exitcode``: 0 nothing to
change, 2 changes present, 1 an error (a usage error too: an unknown option, a missing
argument, a bad value). ``-o json`` output is stable and documented in
``docs/output-json.md``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import typer.core
from rich.table import Table
from rich.text import Text

from truenorth import __version__
from truenorth.cli import (
    actions,
    documents,
    exits,
    inspecting,
    outputs,
    previews,
    remote,
    serve,
    stores,
    tables,
)
from truenorth.controller.runs import validating
from truenorth.core import redaction, runs, specfields, specs

# Start-up is part of every command (issue 16: `truenorth --help` and `validate` within
# 0.3 s), so this module imports only what every command needs. The store, the
# controller's local path, the engines, git and the HTTP client are imported by the
# commands that use them (``tests/cli/test_imports.py`` pins it): SQLAlchemy alone costs
# more than the whole budget.
if TYPE_CHECKING:
    from truenorth.controller.runs import executing, runtime
    from truenorth.engines import sandbox

__all__ = ["app", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
JSON_FORMAT_VERSION = documents.FORMAT_VERSION


class _Commands(typer.core.TyperGroup):
    """truenorth's command group: a usage error exits 1, as every error does.

    Click ends an unknown option, a missing argument or a bad value with exit code 2, which
    here means "changes present" (a CI job gating on 2 would read a typo as a plan). Every
    usage error passes through the group, whichever command it concerns: parsing the
    group's own options (``make_context``), then finding and parsing a command and running
    it (``invoke``), so this holds for every command, ``CliRunner`` included.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_exits_1():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _usage_exits_1():
            return super().invoke(ctx)


#: Click's ``UsageError`` (``typer.BadParameter``'s base), wherever this typer takes click from
#: (typer 0.29 vendors it, older ones import it): unknown option or command, missing
#: argument, bad value, no arguments at all.
_USAGE_ERROR: type[Exception] = next(
    kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError"
)


@contextlib.contextmanager
def _usage_exits_1() -> Iterator[None]:
    try:
        yield
    except _USAGE_ERROR as exc:
        exc.exit_code = EXIT_ERROR  # type: ignore[attr-defined]
        raise


app = typer.Typer(
    name="truenorth",
    cls=_Commands,
    help="GitOps for Terraform, Ansible and Kubernetes, from one Git repository.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = tables.console()
err_console = tables.console(stderr=True)


class OutputFormat(enum.StrEnum):
    """How a command prints its result."""

    text = "text"
    json = "json"


class PlanFormat(enum.StrEnum):
    """How ``plan`` prints (``--format``): as ``-o``, or the merge-request comment."""

    text = "text"
    json = "json"
    markdown = "markdown"


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where truenorth keeps state (env TRUENORTH_DATA_DIR; default ./.truenorth)."
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", envvar="TRUENORTH_STORE_URL", help="Database URL (default: SQLite in the data dir)."
    ),
]
OutputOption = Annotated[OutputFormat, typer.Option("-o", "--output", help="text or json.")]
RefOption = Annotated[
    str | None,
    typer.Option(
        "--ref",
        help="Branch, tag or commit (default: the default branch). Records are kept per branch: "
        "the branch REF names, else (a tag or commit) the default branch.",
    ),
]
StackOption = Annotated[list[str] | None, typer.Option("--stack", help="Only this stack (repeatable).")]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="The controller's configuration file: its clusters tables are Kubernetes targets."
    ),
]
KubeconfigOption = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig", help="The cluster of every Kubernetes stack in this run (wins over --config)."
    ),
]
ContextOption = Annotated[
    str | None, typer.Option("--context", help="With --kubeconfig: the context to use (default: current).")
]
UnknownIsChangeOption = Annotated[
    bool,
    typer.Option(
        "--unknown-is-change",
        help="Count changes the engine cannot predict (Ansible tasks check mode skips) as changes: exit 2.",
    ),
]


def fail(message: str) -> NoReturn:
    """Print a user-facing error (credentials in URLs redacted) and exit 1."""
    err_console.print(Text(f"Error: {redaction.redact_url_credentials(message)}", style="red"))
    raise typer.Exit(EXIT_ERROR)


def main() -> None:
    """Console-script entry point."""
    app()


@app.command()
def version() -> None:
    """Print truenorth's version."""
    console.print(f"truenorth {__version__}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of truenorth.yaml."""
    sys.stdout.write(json.dumps(specfields.json_schema(), indent=2) + "\n")


@app.command()
def validate(
    directory: Annotated[
        Path, typer.Argument(help="Repository working tree (default: current directory).")
    ] = Path("."),
    output: OutputOption = OutputFormat.text,
) -> None:
    """Check truenorth.yaml and every path it names; report every error with file and field."""
    try:
        spec = validating.validate_checkout(directory)
    except specs.SpecError as exc:
        if output is OutputFormat.json:
            _print_json(
                {
                    "format_version": JSON_FORMAT_VERSION,
                    "valid": False,
                    "errors": [{"file": i.file, "field": i.field, "message": i.message} for i in exc.issues],
                }
            )
        else:
            for issue in exc.issues:
                err_console.print(Text(f"✗ {issue}", style="red"))
            err_console.print(Text(f"{len(exc.issues)} error(s); nothing would be applied.", style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    if output is OutputFormat.json:
        _print_json({"format_version": JSON_FORMAT_VERSION, "valid": True, "stacks": list(spec.names)})
    else:
        console.print(
            Text(f"✓ {specs.SPEC_FILENAME} is valid: {len(spec.stacks)} stack(s): {', '.join(spec.names)}")
        )


@app.command()
def plan(
    repo: Annotated[
        str, typer.Argument(help="Local repository path or Git URL; or `show` (see `plan show STACK`).")
    ],
    shown: Annotated[
        str | None,
        typer.Argument(help="With `plan show`: the stack whose stored plan to print.", show_default=False),
    ] = None,
    ref: RefOption = None,
    stack: StackOption = None,
    output: OutputOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    server: remote.ServerOption = None,
    token: remote.TokenOption = None,
    repository: Annotated[
        str | None, typer.Option("--repository", help="With `plan show`: the stack's repository name.")
    ] = None,
    config: ConfigOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Preview a merge request: plan only the stacks REF changes since it left this branch "
            "(and those downstream of them).",
        ),
    ] = None,
    plan_format: Annotated[
        PlanFormat | None,
        typer.Option("--format", help="text, json, or markdown (the merge-request comment)."),
    ] = None,
    comment_limit: Annotated[
        int,
        typer.Option(
            "--comment-limit",
            min=2000,
            help="With --format markdown: cut at this many characters, with a note "
            "(GitHub and Gitea 65536, GitLab 1000000).",
        ),
    ] = 65_536,
    unknown_is_change: UnknownIsChangeOption = False,
) -> None:
    """Show what applying REPO at REF would change. Exit 0: no changes, 2: changes, 1: error.

    Changes the engine cannot predict (Ansible tasks check mode skips) are listed as
    unknown and exit 0 unless --unknown-is-change; a partial plan (a host failed or was
    unreachable) exits 1.

    `truenorth plan show STACK --server URL` prints the stack's stored plan instead.
    `--ref HEAD --base main --format markdown` previews a merge request as its comment.
    """
    if plan_format is not None and plan_format is not PlanFormat.markdown:
        output = OutputFormat(plan_format.value)
    if repo == "show" and (shown is not None or server):
        inspecting.show_plan(
            shown, server=server, token=token, repository=repository, as_json=output is OutputFormat.json
        )
        return
    if shown is not None:
        fail(
            f"unexpected argument {shown!r} (to print a stored plan: truenorth plan show STACK --server URL)"
        )
    from truenorth.controller.local import orchestrating

    markdown = plan_format is PlanFormat.markdown
    clusters = _clusters(config, kubeconfig, context)
    if base is not None:
        _preview(
            repo, ref=ref, base=base, stacks=stack or [], output=output, markdown=markdown,
            limit=comment_limit, data_dir=data_dir, store=store, clusters=clusters,
            unknown_is_change=unknown_is_change,
        )  # fmt: skip
    with _runtime(data_dir, store, engines="truenorth plan", clusters=clusters) as rt:
        revision, _spec, selected = _prepare(rt, repo, ref=ref, stacks=stack or [], output=output)
        text = output is OutputFormat.text and not markdown
        events = orchestrating.Events(planned=_show_planned if text else lambda outcome: None)
        if text:
            _print_revision_header(revision)
        outcomes = orchestrating.plan_revision(rt, revision, selected, events=events)
    failed = [o for o in outcomes if o.plan is None]
    planned = [o.plan for o in outcomes if o.plan is not None]
    if markdown:
        engines = {item.name: item.engine for item in selected}
        previews.write(
            previews.plan_markdown(outcomes, revision=revision, engines=engines, limit=comment_limit)
        )
    elif output is OutputFormat.json:
        engines = {item.name: item.engine for item in selected}
        _print_json(documents.plan_document(revision, outcomes, engines=engines))
    else:
        tables.print_totals(console, planned, failed=len(failed))
    raise typer.Exit(exits.plan_exit_code(planned, failed=len(failed), unknown_is_change=unknown_is_change))


def _preview(
    repo: str,
    *,
    ref: str | None,
    base: str,
    stacks: list[str],
    output: OutputFormat,
    markdown: bool,
    limit: int,
    data_dir: Path | None,
    store: str | None,
    clusters: Any,
    unknown_is_change: bool = False,
) -> NoReturn:
    """``plan --base``: the stacks ``ref`` changes since it left ``base``; exits with plan's codes."""
    text = output is OutputFormat.text and not markdown
    with _runtime(data_dir, store, engines="truenorth plan", clusters=clusters) as rt:
        result = previews.preview(
            rt, repo, ref=ref, base=base, stacks=stacks, fail=fail,
            planned=_show_planned if text else lambda outcome: None,
        )  # fmt: skip
    outcomes = list(result.outcomes)
    planned = [o.plan for o in outcomes if o.plan is not None]
    if markdown:
        previews.write(previews.markdown(result, limit=limit))
    elif output is OutputFormat.json:
        engines = {item.stack: item.engine for item in result.preview.stacks}
        document = documents.plan_document(result.revision, outcomes, engines=engines)
        document["base"] = result.preview.base.sha
        document["not_planned"] = [{"stack": i.stack, "reason": i.reason} for i in result.preview.skipped]
        _print_json(document)
    else:
        for item in result.preview.skipped:
            console.print(Text(f"not planned: {item.stack}: {item.reason}", style="dim"))
        tables.print_totals(console, planned, failed=len(outcomes) - len(planned))
    failed = 1 if result.failed else 0
    raise typer.Exit(exits.plan_exit_code(planned, failed=failed, unknown_is_change=unknown_is_change))


@app.command()
def apply(
    repo: Annotated[str, typer.Argument(help="Local repository path or Git URL.")],
    ref: RefOption = None,
    stack: StackOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    output: OutputOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Plan, ask, then apply in depends_on order; dependents of a failed stack are skipped."""
    from truenorth.controller.local import orchestrating

    text = output is OutputFormat.text
    clusters = _clusters(config, kubeconfig, context)
    with _runtime(data_dir, store, engines="truenorth apply", clusters=clusters) as rt:
        revision, spec, selected = _prepare(rt, repo, ref=ref, stacks=stack or [], output=output)
        if text:
            _print_revision_header(revision)
        events = orchestrating.Events(
            planned=_show_planned if text else lambda outcome: None,
            applied=_show_applied if text else lambda outcome: None,
            replanned=_show_replanned if text else lambda outcome: None,
        )
        planned, applied = orchestrating.apply_revision(
            rt,
            revision,
            spec,
            selected,
            confirm=lambda outcomes: _confirm(outcomes, yes=yes, text=text),
            events=events,
        )
    plan_failed = any(o.plan is None for o in planned)
    apply_failed = any(not o.result.ok for o in applied)
    if output is OutputFormat.json:
        engines = {item.name: item.engine for item in selected}
        document = documents.plan_document(revision, planned, engines=engines)
        document["applies"] = [documents.run_json(o) for o in applied]
        _print_json(document)
    elif not plan_failed and not applied and any(o.plan and o.plan.has_changes for o in planned):
        console.print(Text("Apply cancelled; nothing was changed.", style="yellow"))
    elif not plan_failed and not applied:
        console.print(Text("No changes. Infrastructure is up to date.", style="green"))
    else:
        ok = sum(1 for o in applied if o.result.ok)
        console.print(
            Text(f"Apply complete: {ok} applied, {len(applied) - ok} failed or skipped.", style="bold")
        )
    if plan_failed or apply_failed:
        raise typer.Exit(EXIT_ERROR)
    cancelled = not applied and any(o.plan and o.plan.has_changes for o in planned)
    raise typer.Exit(EXIT_ERROR if cancelled else EXIT_OK)


@app.command()
def drift(
    repo: Annotated[str, typer.Argument(help="Local repository path or Git URL.")],
    ref: RefOption = None,
    stack: StackOption = None,
    output: OutputOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    unknown_is_change: UnknownIsChangeOption = False,
) -> None:
    """Check applied stacks for drift: plan each at its deployed revision. Exit 2: drift found.

    What the engine cannot predict (Ansible tasks check mode skips) is not drift unless
    --unknown-is-change.
    """
    from truenorth.controller.local import holding
    from truenorth.controller.runs import executing
    from truenorth.git import errors as git_errors
    from truenorth.git import urls

    text = output is OutputFormat.text
    reports: list[dict[str, Any]] = []
    unknown_drift = False  # with --unknown-is-change: a check found what it cannot predict
    clusters = _clusters(config, kubeconfig, context)
    with (
        _runtime(data_dir, store, engines="truenorth drift", clusters=clusters) as rt,
        contextlib.ExitStack() as holds,
    ):
        head, _spec, selected = _prepare(rt, repo, ref=ref, stacks=stack or [], output=output)
        # The stacks are held while their drift is checked (one busy: refused, nothing checked).
        holds.enter_context(holding.hold(rt, head.key, [s.name for s in selected], command="truenorth drift"))
        for item in selected:
            deployed = rt.store.deployed_revision(repository=head.key, stack=item.name)
            if deployed is None:
                reports.append(documents.drift_entry(item.name, engine=item.engine, status="not-applied"))
                continue
            try:
                revision = rt.sources.checkout(
                    repo, ref=deployed, branch=urls.branch_of(head.key), fetch=False
                )
                at_deploy = validating.validate_checkout(revision.checkout).stack(item.name)
            except (git_errors.GitError, specs.SpecError, KeyError) as exc:
                reports.append(
                    documents.drift_entry(
                        item.name, engine=item.engine, status="failed", revision=deployed, error=str(exc)
                    )
                )
                continue
            outcome = executing.plan_stack(rt, revision, at_deploy, kind=runs.RunKind.DRIFT)
            if outcome.plan is not None and unknown_is_change and outcome.plan.has_changes:
                unknown_drift = True
            reports.append(
                documents.drift_entry(
                    item.name,
                    engine=item.engine,
                    status="failed" if outcome.plan is None else "checked",
                    revision=deployed,
                    run_id=outcome.run_id,
                    error=outcome.result.error,
                    plan=outcome.plan,
                )
            )
            if text:
                _show_drift(item.name, deployed, outcome)
    if output is OutputFormat.json:
        _print_json(
            {
                "format_version": JSON_FORMAT_VERSION,
                "repository": head.shown_url,
                "branch": urls.branch_of(head.key),
                "stacks": reports,
            }
        )
    elif text:
        for entry in reports:
            if entry["status"] == "not-applied":
                console.print(Text(f"{entry['name']}: never applied; nothing to compare", style="dim"))
            elif entry["status"] == "failed" and entry["run_id"] is None:
                console.print(Text(f"{entry['name']}: drift check failed: {entry['error']}", style="red"))
    if any(entry["status"] == "failed" for entry in reports):
        raise typer.Exit(EXIT_ERROR)
    drifted = unknown_drift or any(entry.get("drift") for entry in reports)
    raise typer.Exit(EXIT_CHANGES if drifted else EXIT_OK)


def _show_drift(name: str, deployed: str, outcome: executing.Outcome) -> None:
    console.print(Text(f"\n── {name} @ {deployed[:12]} (deployed) ──", style="bold cyan"))
    if outcome.plan is None:
        console.print(Text(f"  Drift check failed: {outcome.result.error}", style="red"))
    elif not outcome.plan.has_drift:
        note = " (some changes cannot be predicted; see the plan)" if outcome.plan.has_changes else ""
        console.print(Text(f"  No drift: the live state matches the deployed revision.{note}", style="green"))
    else:
        console.print(
            Text("  Drift: the live state no longer matches the deployed revision.", style="yellow")
        )
        tables.print_plan(console, outcome.plan)


@app.command()
def render(
    repo: Annotated[str, typer.Argument(help="Local repository path or Git URL.")],
    stack: Annotated[str, typer.Option("--stack", help="The Kubernetes stack to render.")],
    ref: RefOption = None,
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
    allow_unknown: Annotated[
        bool,
        typer.Option(
            "--allow-unknown", help="Leave inputs not known yet as ${NAME} (default: an error naming them)."
        ),
    ] = False,
) -> None:
    """Print a Kubernetes stack's rendered objects as YAML, inputs substituted (Secret values masked)."""
    from truenorth.controller.local import manifests
    from truenorth.engines import protocol

    clusters = _clusters(config, None, None)  # allowed_remote_hosts of the stack's target
    with _runtime(data_dir, store, clusters=clusters) as rt:
        revision, spec, _selected = _prepare(rt, repo, ref=ref, stacks=[stack], output=OutputFormat.text)
        try:
            rendered = manifests.render_stack(rt, revision, spec.stack(stack), allow_unknown=allow_unknown)
        except (protocol.EngineError, manifests.RenderError) as exc:
            fail(str(exc))
    for item in rendered.not_known:
        why = item.placeholder().strip("()")
        err_console.print(Text(f"note: ${{{item.name}}} left as written: {item.ref.source} is {why}"))
    sys.stdout.write(tables.terminal_safe(rendered.text))


@app.command()
def history(
    stack: Annotated[str | None, typer.Option("--stack", help="Only this stack.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    output: OutputOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    server: remote.ServerOption = None,
    token: remote.TokenOption = None,
) -> None:
    """List recorded runs, newest first (from a running controller with --server)."""
    if server:
        from truenorth.cli import client

        try:
            found = client.remote_history(server, token, stack, limit)
        except client.RemoteError as exc:
            fail(str(exc))
        if output is OutputFormat.json:
            _print_json({"format_version": JSON_FORMAT_VERSION, "runs": found})
        else:
            remote.print_history(console, found)
        return
    with _runtime(data_dir, store) as rt:
        records = rt.store.list_runs(stack=stack, limit=limit)
    if stack and not records:
        fail(f"no stack named {stack!r} has a run recorded here (see `truenorth status`)")
    if output is OutputFormat.json:
        _print_json(
            {"format_version": JSON_FORMAT_VERSION, "runs": [documents.record_json(r) for r in records]}
        )
        return
    table = Table("id", "stack", "kind", "status", "revision", "started", "summary", "error")
    for record in records:
        table.add_row(
            Text(str(record.id)),
            Text(record.stack),
            Text(record.kind),
            Text(record.status, style=_status_style(record.status)),
            Text(record.revision[:12]),
            Text(record.started_at.strftime("%Y-%m-%d %H:%M:%S")),
            Text(_summary_text(record.summary)),
            Text(record.error or ""),  # in full: the table wraps it
        )
    console.print(table)


@app.command()
def status(
    output: OutputOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    store: StoreOption = None,
    server: remote.ServerOption = None,
    token: remote.TokenOption = None,
) -> None:
    """Show every known stack: sync state and applied revision (from a controller with --server)."""
    if server:
        from truenorth.cli import client

        try:
            found = client.remote_status(server, token)
        except client.RemoteError as exc:
            fail(str(exc))
        if output is OutputFormat.json:
            _print_json({"format_version": JSON_FORMAT_VERSION, **found})
        else:
            remote.print_status(console, found)
        return
    with _runtime(data_dir, store) as rt:
        stacks = rt.store.list_stacks()
    if output is OutputFormat.json:
        _print_json(
            {"format_version": JSON_FORMAT_VERSION, "stacks": [documents.stack_json(s) for s in stacks]}
        )
        return
    if not stacks:
        console.print("No stacks recorded yet. Run `truenorth plan REPO` or `truenorth apply REPO`.")
        return
    table = Table("repository", "stack", "engine", "sync", "applied revision", "applied at", "error")
    for item in stacks:
        table.add_row(
            Text(_short_repository(item.repository)),
            Text(item.name),
            Text(item.engine or ""),
            Text(item.sync_state or "unknown", style=_status_style(item.sync_state or "")),
            Text(item.applied_revision[:12] if item.applied_revision else "-"),
            Text(item.applied_at.strftime("%Y-%m-%d %H:%M:%S") if item.applied_at else "-"),
            Text(item.error or ""),  # in full: the table wraps it
        )
    console.print(table)


@app.command()
def doctor() -> None:
    """Report the external programs truenorth drives: present or not, and their versions.

    And the sandbox: whether bubblewrap works here, and what ``TRUENORTH_SANDBOX`` makes of
    it (``required`` on a machine where it does not work fails the command).
    """
    from truenorth.controller.runs import registry
    from truenorth.engines import sandbox

    engines = registry.EngineRegistry()
    table = Table("program", "status", "version")
    ok = True
    for name in ("git", "terraform", "tofu", "ansible-playbook", "kubectl"):
        found = shutil.which(name) or (shutil.which(name, path=str(Path(sys.executable).parent)))
        table.add_row(
            name, "found" if found else "missing", _program_version(name, found, engines) if found else "-"
        )
        ok = ok and (found is not None or name == "tofu")
    # Helm charts are refused (docs/kubernetes.md); say whether helm is here, never needed.
    helm = shutil.which("helm")
    table.add_row("helm", "found, not used" if helm else "missing (not needed)", "-")
    support = sandbox.probe()
    state = "works" if support.works else "missing" if support.bwrap is None else "fails"
    table.add_row("bwrap", state, support.version or "-")
    console.print(table)
    ok = _sandbox_report(support) and ok
    if not ok:
        raise typer.Exit(EXIT_ERROR)


def _sandbox_report(support: sandbox.Support) -> bool:
    """Say whether engine programs run sandboxed here; False when the mode cannot be met."""
    from truenorth import config
    from truenorth.config import sandboxes
    from truenorth.engines import sandbox

    try:
        policy, _ = sandboxes.from_environment(os.environ)
    except config.ConfigError as exc:
        console.print(f"sandbox: {exc}")
        return False
    if policy.mode is sandbox.Mode.OFF:
        console.print("sandbox: off (TRUENORTH_SANDBOX=off): engine programs run UNCONFINED")
    elif support.works:
        console.print(
            f"sandbox: {policy.mode.value}: every engine program runs in bubblewrap ({support.bwrap})"
        )
    else:
        severity = "REFUSED" if policy.mode is sandbox.Mode.REQUIRED else "SANDBOX OFF"
        console.print(
            f"sandbox: {policy.mode.value}: {severity}: bubblewrap does not work here ({support.reason}); "
            + (
                "no engine program will run"
                if policy.mode is sandbox.Mode.REQUIRED
                else "engine programs run repository code UNCONFINED"
            )
        )
        return policy.mode is not sandbox.Mode.REQUIRED
    return True


def _program_version(name: str, path: str, engines: Any) -> str:
    """What the engine reports for its program, else the first line of ``path --version``."""
    from truenorth.engines import processes, protocol

    engine_for = {"terraform": "terraform", "ansible-playbook": "ansible", "kubectl": "kubernetes"}
    if name in engine_for:
        try:
            found: str | None = engines.get(engine_for[name]).version()
            return found or "unknown"
        except protocol.EngineError:
            pass
    return processes.version_of([path, "--version"]) or "unknown"


# --------------------------------------------------------------------------- helpers


def _clusters(
    config: Path | None, kubeconfig: Path | None, context: str | None
) -> runtime.ClusterLookup | None:
    """Kubernetes stacks' targets from ``--config`` and ``--kubeconfig``/``--context`` (exit 1 if bad)."""
    if config is None and kubeconfig is None and context is None:
        return None
    from truenorth.controller.local import clusters

    try:
        return clusters.lookup(config=config, kubeconfig=kubeconfig, context=context)
    except clusters.ClusterError as exc:
        fail(str(exc))


@contextlib.contextmanager
def _runtime(
    data_dir: Path | None,
    store_url: str | None,
    *,
    engines: str | None = None,
    clusters: runtime.ClusterLookup | None = None,
) -> Iterator[runtime.Runtime]:
    """The local data dir for one command; ``engines`` (the command) if it runs engines there.

    ``clusters`` resolves Kubernetes stacks' targets (:func:`_clusters`).

    Such a command shares the data dir with other local commands but refuses while a
    controller (``truenorth serve``) holds it (:mod:`truenorth.controller.runs.ownership`).
    Files it writes there are private (umask 077). A store that fails, at opening or
    later, ends the command with its reason (``Error: state database: disk full``), exit 1.
    """
    from truenorth.controller import errors as controller_errors
    from truenorth.controller.local import holding
    from truenorth.controller.runs import layout, ownership, runtime

    root = layout.data_dir_from_env(data_dir)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(ownership.private_files())
            if engines is not None:
                held.enter_context(ownership.share(root, command=engines))
            with controller_errors.store_unavailable():
                rt = runtime.open_runtime(root, store_url=store_url, clusters=clusters)
            try:
                holding.share_state(rt, store_url)  # PostgreSQL: the state replicas share
            except holding.SettingError:
                rt.close()
                raise
        except (ownership.DataDirBusy, holding.SettingError) as exc:
            fail(str(exc))
        except controller_errors.ControllerError as exc:
            fail(exc.message)
        except OSError as exc:
            fail(f"cannot use data dir {root}: {exc.strerror or exc}")
        try:
            with controller_errors.store_unavailable():
                yield rt
        except controller_errors.ControllerError as exc:
            fail(exc.message)
        except holding.StackBusy as exc:  # another command or a replica works on a stack
            fail(str(exc))
        finally:
            rt.close()


def _prepare(
    rt: runtime.Runtime,
    repo: str,
    *,
    ref: str | None,
    stacks: list[str],
    output: OutputFormat,
) -> tuple[Any, specs.RepoSpec, tuple[specs.StackSpec, ...]]:
    from truenorth.controller.local import orchestrating
    from truenorth.controller.runs import executing
    from truenorth.git import errors as git_errors

    try:
        revision = rt.sources.checkout(repo, ref=ref)
    except git_errors.GitError as exc:
        executing.record_revision_failure(rt, repository=repo, revision="", error=str(exc))
        fail(str(exc))
    try:
        spec = validating.validate_checkout(revision.checkout)
    except specs.SpecError as exc:
        executing.record_revision_failure(rt, repository=revision.key, revision=revision.sha, error=str(exc))
        if output is OutputFormat.json:
            _print_json(
                {
                    "format_version": JSON_FORMAT_VERSION,
                    "repository": revision.shown_url,
                    "revision": revision.sha,
                    "valid": False,
                    "errors": [{"file": i.file, "field": i.field, "message": i.message} for i in exc.issues],
                }
            )
            raise typer.Exit(EXIT_ERROR) from None
        lines = "\n".join(f"  {issue}" for issue in exc.issues)
        fail(f"revision {revision.sha[:12]} is invalid; nothing is planned or applied:\n{lines}")
    try:
        selected = orchestrating.select_stacks(spec, stacks)
    except KeyError as exc:
        fail(f"no such stack: {exc.args[0]}")
    return revision, spec, selected


def _print_revision_header(revision: Any) -> None:
    header = Text(f"{revision.shown_url} @ {revision.ref} -> {revision.sha[:12]} ", style="bold")
    header.append(f"{revision.commit.subject} ({revision.commit.author_name})", style="dim")
    console.print(header)


def _show_planned(outcome: executing.Outcome) -> None:
    stack = outcome.result.stack
    console.print(Text(f"\n── {stack} ──", style="bold cyan"))
    if outcome.plan is None:
        _show_failed_plan(outcome)
        return
    tables.print_plan(console, outcome.plan)


def _show_failed_plan(outcome: executing.Outcome) -> None:
    """A failed plan's error, after what it found before failing (a partial plan), if anything."""
    partial = outcome.result.plan
    if partial is not None and partial.changed:
        tables.print_plan(console, partial)
    console.print(Text(f"  Plan failed: {outcome.result.error}", style="red"))


def _show_replanned(outcome: executing.Outcome) -> None:
    console.print(
        Text(f"\n── {outcome.result.stack} (planned again: its dependencies changed) ──", style="bold cyan")
    )
    if outcome.plan is None:
        _show_failed_plan(outcome)
        return
    tables.print_plan(console, outcome.plan)


def _show_applied(outcome: executing.Outcome) -> None:
    result = outcome.result
    style = "green" if result.ok else "red"
    line = Text(f"  {result.stack}: apply {result.status.value}", style=style)
    if result.error:
        line.append(f": {result.error}")
    console.print(line)
    for host in result.hosts:
        console.print(Text(f"    {host.host}: {host.status.value}", style=_status_style(host.status.value)))


def _confirm(outcomes: list[executing.Outcome], *, yes: bool, text: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        err_console.print(
            Text("Not applying: no terminal to ask on. Pass --yes to apply without asking.", style="red")
        )
        return False
    del outcomes
    console.print(
        Text("\nDo you want to apply these changes? Only 'yes' will be accepted.", style="bold")
        if text
        else ""
    )
    answer = typer.prompt("Enter a value", default="", show_default=False)
    return bool(answer.strip() == "yes")


def _short_repository(key: str) -> str:
    """``/srv/git/infra#main`` -> ``infra@main``: the table's column; JSON keeps the full URL."""
    from truenorth.git import urls

    location, branch = urls.split_key(key)
    tail = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git") or location
    return f"{tail}@{branch}" if branch else tail


def _summary_text(summary: dict[str, Any] | None) -> str:
    if not summary:
        return ""
    return f"+{summary.get('add', 0)} ~{summary.get('change', 0)} -{summary.get('destroy', 0)}"


def _status_style(value: str) -> str:
    return {
        "succeeded": "green",
        "synced": "green",
        "ok": "green",
        "changed": "yellow",
        "failed": "red",
        "unreachable": "red",
        "partial": "yellow",
        "out-of-sync": "yellow",
        "pending-approval": "yellow",
        "interrupted": "red",
        "skipped": "dim",
    }.get(value, "")


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


serve.register(app)
actions.register(app)
inspecting.register(app)
stores.register(app)
outputs.register(app)

if __name__ == "__main__":  # pragma: no cover
    main()
