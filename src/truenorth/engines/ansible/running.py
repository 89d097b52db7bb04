"""Running ``ansible-playbook`` through ansible-runner: a private dir in, redacted events out.

Every run gets a fresh private directory (mode 0700, outside the checkout) holding
ansible-runner's private data dir, Ansible's local temp and SSH control sockets, the
vault password file (0600) and the skip notes of :mod:`.plugins.truenorth_notes`. It is
deleted when the run ends, so the password never outlives the run. The extra vars (the
stack's ``extra_vars`` and its inputs, sensitive ones included) go to a private JSON
file (0600) in the run's folder (``vars_dir``), bound read-only into the sandbox,
passed with ``--extra-vars=@FILE`` and deleted as soon as Ansible has read it (its
``playbook_on_start`` event), and at the latest when the run ends, however it ends. Raw
job events are never written to disk: each event is redacted as it arrives (after the
redactor learned the values of sensitive ``set_stats`` outputs it carries, :mod:`.stats`),
its ``stdout`` lines go to the live sink, and only redacted copies (``stdout.txt``,
``job_events.jsonl``, ``notes.jsonl``, ``status``, ``rc``) are kept in the run's
artifacts folder.

The child gets a filtered environment (no controller secrets), explicit host key
checking, no retry files and no colour; argv is built here, never shell-split.

ansible-playbook runs in the stack's sandbox (:mod:`.confining`): ansible-runner starts
bwrap on its pseudo-terminal instead of ansible-playbook itself, with the CPU-time and
memory limits in front of it; output past the output limit stops the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truenorth.core import redaction
from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.ansible import confining, reaping
from truenorth.engines.ansible import stats as output_stats

__all__ = ["Invocation", "Outcome", "child_environment", "run_playbook", "search_path"]

#: Environment variables of the controller that ansible-playbook may see (plus ANSIBLE_*).
_INHERITED = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSH_AUTH_SOCK")
_RUNNER_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PLUGINS = Path(__file__).resolve().parent / "plugins"


@dataclass(frozen=True)
class Invocation:
    """One ansible-playbook run: resolved absolute paths, options and where artifacts go."""

    binary: str
    stack_dir: Path
    playbook: Path
    artifacts_dir: Path
    timeout: float
    check: bool
    inventory: Path | None = None
    limit: str | None = None
    #: The run's extra vars (inputs included, sensitive ones too: never shown).
    extra_vars: Mapping[str, Any] = field(default_factory=dict, repr=False)
    vault_password: str | None = field(default=None, repr=False)
    #: The folder the private extra-vars file is written to (the run's folder); None: the
    #: run's private temporary folder.
    vars_dir: Path | None = None
    #: ``set_stats`` keys whose values are sensitive (masked from the moment they appear).
    sensitive_outputs: frozenset[str] = frozenset()
    #: The snapshot the stack folder is in (bound read-only in the sandbox).
    checkout: Path | None = None
    policy: sandboxing.Policy = field(default_factory=lambda: sandboxing.Policy(mode=sandboxing.Mode.OFF))
    limits: sandboxing.Limits | None = None


@dataclass(frozen=True)
class Outcome:
    """How the run ended; ``events``, ``notes`` and ``stdout`` are already redacted."""

    rc: int
    status: str
    events: tuple[Mapping[str, Any], ...]
    notes: tuple[Mapping[str, Any], ...]
    stdout: str
    seconds: float
    #: Whether ansible-playbook ran in the sandbox.
    sandboxed: bool = False
    #: The limit it hit, in words (see :attr:`truenorth.engines.processes.ProcessResult.limit`), or "".
    limit: str = ""
    #: The run's aggregate ``set_stats`` data, unredacted (memory only); None without a recap.
    stats: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def timed_out(self) -> bool:
        """True when the run was stopped at its timeout."""
        return self.status == "timeout"

    @property
    def cancelled(self) -> bool:
        """True when the run was cancelled through the context's cancel event."""
        return self.status == "canceled"


def search_path() -> str:
    """PATH with this interpreter's bin folder first, so the venv's ansible is found."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])


def child_environment(private: Path, *, notes: Path) -> dict[str, str]:
    """The variables truenorth sets for ansible-playbook (merged into a filtered environment)."""
    enabled = [item for item in os.environ.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if item.strip()]
    return {
        "PATH": search_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "False",
        "ANSIBLE_LOCAL_TEMP": str(private / "local"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(private / "cp"),
        "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR": str(private / "pc"),
        # A repository's ansible.cfg must not log unredacted output to a file.
        "ANSIBLE_LOG_PATH": os.devnull,
        "ANSIBLE_CALLBACK_PLUGINS": str(_PLUGINS),
        "ANSIBLE_CALLBACKS_ENABLED": ",".join([*enabled, "truenorth_notes"]),
        "TRUENORTH_ANSIBLE_NOTES": str(notes),
        "PYTHONUNBUFFERED": "1",
    }


def _argv(invocation: Invocation, *, extra_vars: Path | None, vault_file: Path | None) -> list[str]:
    argv = [invocation.binary]
    if invocation.check:
        argv.append("--check")
    argv.append("--diff")
    if invocation.inventory is not None:
        argv.append(f"--inventory={invocation.inventory}")
    if invocation.limit:
        argv.append(f"--limit={invocation.limit}")
    if extra_vars is not None:
        argv.append(f"--extra-vars=@{extra_vars}")
    if vault_file is not None:
        argv.append(f"--vault-password-file={vault_file}")
    argv.extend(["--", str(invocation.playbook)])
    return argv


#: The one line of a result that is safe to show for a ``no_log`` task.
_RESULT_LINE = re.compile(r"^\s*(fatal|failed|ok|changed|skipping|unreachable|included)\b.*?: \[")


def hide_no_log_text(event: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what ansible-core prints around a censored ``no_log`` result.

    ansible-core 2.19 censors a ``no_log`` task's result (``res``) but still prints its
    failure message in the event's ``stdout`` (``[ERROR]: Task failed: ... <msg>``);
    for those events only the result line itself (``fatal: [host]: FAILED! =>
    {"censored": ...}``) is kept.
    """
    copy = dict(event)
    data = copy.get("event_data")
    res = data.get("res") if isinstance(data, Mapping) else None
    if isinstance(res, Mapping) and ("censored" in res or res.get("_ansible_no_log") is True):
        lines = str(copy.get("stdout") or "").splitlines()
        kept = [line for line in lines if _RESULT_LINE.match(_ANSI.sub("", line))]
        copy["stdout"] = "\n".join([*kept, "(output hidden: no_log)"] if len(kept) < len(lines) else kept)
    return copy


def run_playbook(
    invocation: Invocation,
    *,
    redactor: redaction.Redactor,
    cancel: threading.Event,
    sink: protocol.OutputSink | None = None,
) -> Outcome:
    """Run the playbook once; stream redacted lines to ``sink``; keep redacted artifacts."""
    from ansible_runner import Runner

    started = time.monotonic()
    private = Path(tempfile.mkdtemp(prefix="tn-ansible-"))
    events: list[Mapping[str, Any]] = []
    lines: list[str] = []
    lock = threading.Lock()
    cap = invocation.limits.output_bytes if invocation.limits is not None else None
    printed = [0]
    stopped: list[str] = []
    stats: list[Mapping[str, Any]] = []
    learned: list[bool] = []
    extra_file: Path | None = None

    def on_event(event: Mapping[str, Any]) -> bool:
        if event.get("event") == "playbook_on_start" and extra_file is not None:
            # Ansible read its extra vars (once, before the first play): the file goes now,
            # so that it lives only while Ansible starts, even if the controller is killed.
            with contextlib.suppress(OSError):  # else it goes when the run ends
                extra_file.unlink(missing_ok=True)
        secrets = output_stats.secret_texts(event, invocation.sensitive_outputs)
        if secrets:
            redactor.add(*secrets)
            learned.append(True)
        found = output_stats.run_stats(event)
        if found is not None:
            stats.append(found)
        clean: Mapping[str, Any] = redactor.value(hide_no_log_text(event))
        text = _ANSI.sub("", str(clean.get("stdout") or ""))
        new = [line.rstrip("\r") for line in text.splitlines()]
        with lock:
            printed[0] += len(text.encode("utf-8", "replace"))
            if cap is not None and printed[0] > cap:
                if not stopped:
                    stopped.append("output_limit")
                    lines.append(f"... (output cut at the limit of {cap} bytes)")
                return False  # past the limit: kept nowhere
            events.append(clean)
            lines.extend(new)
        if sink is not None:
            for line in new:
                try:
                    sink(line)
                except Exception:  # noqa: S112 - a broken log reader must not break the run
                    continue
        return False  # never let ansible-runner write the raw event to disk

    try:
        for sub in ("pdd", "local", "cp", "pc"):
            (private / sub).mkdir(mode=0o700)
        notes = private / "notes.jsonl"
        if invocation.extra_vars:
            extra_file = _write_vars(invocation.vars_dir or private, invocation.extra_vars)
        confined = (
            confining.sandbox(
                invocation.policy,
                checkout=invocation.checkout,
                private=private,
                check=invocation.check,
                runtime=(_PLUGINS, *([extra_file] if extra_file is not None else [])),
            )
            if invocation.checkout is not None
            else None
        )
        vault_file = (
            _write_private(private / "vault-pass", invocation.vault_password)
            if invocation.vault_password is not None
            else None
        )
        config = _configure(
            invocation,
            private=private,
            notes=notes,
            extra_vars=extra_file,
            vault_file=vault_file,
            sandbox=confined,
        )
        deadline = started + invocation.timeout

        killed: list[bool] = []

        def should_stop() -> bool:
            # Polled by ansible-runner about twice a second. On cancel, timeout or too much
            # output, kill the whole tree first: ansible-runner alone would leave detached
            # workers.
            if not stopped and (cancel.is_set() or time.monotonic() > deadline):
                stopped.append("canceled" if cancel.is_set() else "timeout")
            if stopped and not killed:
                killed.append(True)
                reaping.stop_run(f"TRUENORTH_ANSIBLE_NOTES={notes}")
            return bool(stopped)

        runner = Runner(config, event_handler=on_event, cancel_callback=should_stop)
        try:
            status, rc = runner.run()
        except Exception as exc:
            raise protocol.EngineError(redactor(f"ansible-runner failed: {exc}")) from None
        if stopped:
            status = stopped[0]
        note_items = _read_notes(notes, redactor)
    finally:
        if extra_file is not None:
            extra_file.unlink(missing_ok=True)
        shutil.rmtree(private, ignore_errors=True)
    seconds = time.monotonic() - started
    code = int(rc if rc is not None else -1)
    if learned:
        # A sensitive output's value printed before its set_stats task (a debug) is masked
        # in what is kept, too (the live lines already sent could not wait for it).
        events[:] = [redactor.value(event) for event in events]
        lines[:] = [redactor(line) for line in lines]
    stdout = "\n".join(lines)
    outcome = Outcome(
        rc=code,
        status=str(status),
        events=tuple(events),
        notes=note_items,
        stdout=stdout,
        seconds=seconds,
        sandboxed=confined is not None,
        stats=stats[-1] if stats else None,
        limit=processes.limit_hit(
            "output_limit"
            if status == "output_limit"
            else "exited"
            if status in ("successful", "failed")
            else status,
            signalled=processes.signal_of(code, sandboxed=True),
            stderr=stdout,
            limits=invocation.limits,
            seconds=seconds,
        ),
    )
    _keep_artifacts(outcome, invocation, redactor)
    return outcome


def _configure(
    invocation: Invocation,
    *,
    private: Path,
    notes: Path,
    extra_vars: Path | None,
    vault_file: Path | None,
    sandbox: sandboxing.Sandbox | None = None,
) -> Any:
    """An ansible-runner config with truenorth's argv and a filtered environment.

    Sandboxed, ansible-runner starts bwrap (with ansible-playbook inside) instead.
    """
    from ansible_runner import RunnerConfig

    config = RunnerConfig(
        private_data_dir=str(private / "pdd"),
        project_dir=str(invocation.stack_dir),
        playbook=str(invocation.playbook),
        envvars=child_environment(private, notes=notes),
        quiet=True,
        suppress_output_file=True,
        suppress_ansible_output=True,
        ident="run",
        settings={"pexpect_timeout": 0.5, "pexpect_use_poll": True, "suppress_ansible_output": True},
    )
    config.prepare()
    # ansible-runner seeded config.env with the whole controller environment: keep only
    # what Ansible needs, so that no controller secret reaches the playbook.
    ours = child_environment(private, notes=notes)
    inherited = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    config.env = inherited | {
        key: str(value)
        for key, value in config.env.items()
        if key.startswith(_RUNNER_PREFIXES) or key in ours
    }
    config.env["ORIGINAL_STDOUT_CALLBACK"] = "default"
    config.env.update(
        confining.environment(private, policy=invocation.policy, inventory=invocation.inventory is not None)
    )
    argv = _argv(invocation, extra_vars=extra_vars, vault_file=vault_file)
    if sandbox is None:
        config.command = [*sandboxing.limit_options(invocation.limits), *argv]
    else:
        config.env.update(dict(sandbox.environment))
        config.command = sandboxing.command(sandbox, argv, cwd=invocation.stack_dir, limits=invocation.limits)
    return config


def _write_vars(folder: Path, values: Mapping[str, Any]) -> Path:
    """Write the extra vars to a new private (0600) JSON file in ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".extravars-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(values), handle)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a new 0600 file (never following an existing link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _read_notes(path: Path, redactor: redaction.Redactor) -> tuple[Mapping[str, Any], ...]:
    if not path.exists():
        return ()
    notes: list[Mapping[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            notes.append(redactor.value(item))
    return tuple(notes)


def _keep_artifacts(outcome: Outcome, invocation: Invocation, redactor: redaction.Redactor) -> None:
    """Write the redacted artifacts of the run into its artifacts folder."""
    folder = invocation.artifacts_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stdout.txt").write_text(outcome.stdout + "\n", encoding="utf-8")
    with (folder / "job_events.jsonl").open("w", encoding="utf-8") as handle:
        for event in outcome.events:
            handle.write(json.dumps(event, sort_keys=True, default=str) + "\n")
    with (folder / "notes.jsonl").open("w", encoding="utf-8") as handle:
        for note in outcome.notes:
            handle.write(json.dumps(note, sort_keys=True) + "\n")
    (folder / "status").write_text(outcome.status + "\n", encoding="utf-8")
    (folder / "rc").write_text(f"{outcome.rc}\n", encoding="utf-8")
    command = {
        "argv": [redactor(part) for part in _argv(invocation, extra_vars=None, vault_file=None)],
        "check": invocation.check,
        "vault_password_file": invocation.vault_password is not None,
    }
    (folder / "command.json").write_text(json.dumps(command, indent=2) + "\n", encoding="utf-8")
