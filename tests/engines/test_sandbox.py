"""The bubblewrap sandbox: the argv it builds, and real programs confined by it.

The argv tests are pure. The others run real programs through :func:`processes.run`
inside bwrap (installed by ``make test``) and check what they can and cannot do: see
the data dir, another process's environment, write outside their folders, outlive
their run, outlive a killed controller (or not), and hit each limit.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from truenorth.core import redaction
from truenorth.engines import processes, sandbox, survivors

SUPPORT = sandbox.Support(works=True, bwrap="/usr/bin/bwrap", setpriv="/usr/bin/setpriv")
BROKEN = sandbox.Support(works=False, reason="bwrap fails here: no permission to create namespaces")
DEADLINE = 60.0

needs_bwrap = pytest.mark.usefixtures("bwrap")


# ----------------------------------------------------------------- the argv (pure)


def test_the_argv_confines_pid_ipc_capabilities_and_keeps_the_network_by_default(tmp_path: Path) -> None:
    spec = sandbox.Sandbox(read_only=(tmp_path / "snapshot",), writable=(tmp_path / "state",))
    argv = sandbox.command(spec, ["/usr/bin/terraform", "plan"], cwd=tmp_path / "state", support=SUPPORT)
    assert argv[0] == "/usr/bin/bwrap"
    for flag in ("--unshare-pid", "--unshare-ipc", "--new-session", "--as-pid-1", "--cap-drop"):
        assert flag in argv
    assert "--unshare-net" not in argv
    assert "--die-with-parent" not in argv
    assert argv[argv.index("--ro-bind-try", argv.index("--tmpfs")) + 1] == str(tmp_path / "snapshot")
    assert ["--bind-try", str(tmp_path / "state"), str(tmp_path / "state")] == argv[
        argv.index("--bind-try") : argv.index("--bind-try") + 3
    ]
    assert argv[argv.index("--chdir") + 1] == str(tmp_path / "state")
    # Interrupted with its parent: setpriv inside, then the program.
    tail = argv[argv.index("--") + 1 :]
    assert tail == ["/usr/bin/setpriv", "--pdeathsig", "INT", "--", "/usr/bin/terraform", "plan"]
    assert "/etc/passwd" in argv and "/etc/shadow" not in argv


def test_the_argv_follows_the_lifetime_and_the_network(tmp_path: Path) -> None:
    alone = sandbox.Sandbox(lifetime=sandbox.Lifetime.FINISH_ALONE)
    argv = sandbox.command(alone, ["/usr/bin/true"], cwd=tmp_path, support=SUPPORT)
    assert "/usr/bin/setpriv" not in argv and "--die-with-parent" not in argv
    dies = sandbox.Sandbox(lifetime=sandbox.Lifetime.DIE_WITH_PARENT, network=False)
    argv = sandbox.command(dies, ["/usr/bin/true"], cwd=tmp_path, support=SUPPORT)
    assert "--die-with-parent" in argv and "--unshare-net" in argv


def test_binds_go_shallowest_first_and_read_only_wins(tmp_path: Path) -> None:
    state = tmp_path / "state"
    argv = sandbox.command(
        sandbox.Sandbox(read_only=(state / "deps" / "a.tfstate", state), writable=(state,)),
        ["/usr/bin/true"],
        cwd=tmp_path,
        support=SUPPORT,
    )
    binds = [
        argv[i : i + 2]
        for i, item in enumerate(argv)
        if item.endswith("bind-try") and str(tmp_path) in argv[i + 1]
    ]
    assert binds == [["--ro-bind-try", str(state)], ["--ro-bind-try", str(state / "deps" / "a.tfstate")]]


def test_a_program_outside_the_system_folders_is_bound_read_only(tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "terraform"
    argv = sandbox.command(sandbox.Sandbox(), [str(tool), "version"], cwd=tmp_path, support=SUPPORT)
    assert ["--ro-bind-try", str(tool), str(tool)] == argv[
        argv.index(str(tool)) - 1 : argv.index(str(tool)) + 2
    ]
    system = sandbox.command(sandbox.Sandbox(), ["/usr/bin/kubectl"], cwd=tmp_path, support=SUPPORT)
    assert system.count("/usr/bin/kubectl") == 1  # /usr is bound already


def test_limits_become_prlimit_options() -> None:
    options = sandbox.limit_options(sandbox.Limits(cpu_seconds=60, memory_bytes=1 << 30))
    assert options[1:] == ["--cpu=60:65", f"--data={1 << 30}", "--"]
    assert sandbox.limit_options(sandbox.Limits(cpu_seconds=None, memory_bytes=None)) == []
    assert sandbox.limit_options(None) == []


def test_a_plan_reads_what_an_apply_may_write_and_may_lose_its_network(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    key = tmp_path / "id_ed25519"
    policy = sandbox.Policy(mode=sandbox.Mode.AUTO, plan_network=False, read_only=(key,), writable=(hosts,))
    with _supported():
        plan = sandbox.confine(policy, writable=(tmp_path / "work",))
        apply = sandbox.confine(policy, writable=(tmp_path / "work",), applying=True)
    assert plan is not None and apply is not None
    assert plan.writable == (tmp_path / "work",) and set(plan.read_only) == {key, hosts}
    assert set(apply.writable) == {tmp_path / "work", hosts} and apply.read_only == (key,)
    assert not plan.network and apply.network
    assert ("HOME", "/tmp") in plan.environment


def test_the_mode_decides_and_required_refuses_a_machine_without_bubblewrap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert sandbox.resolve_mode(sandbox.Mode.OFF, BROKEN) is False
    assert sandbox.resolve_mode(sandbox.Mode.AUTO, SUPPORT) is True
    with pytest.raises(sandbox.SandboxUnavailable, match='sandbox = "required" but bubblewrap does not work'):
        sandbox.resolve_mode(sandbox.Mode.REQUIRED, BROKEN)
    with caplog.at_level(logging.WARNING, logger="truenorth.engines.sandbox"):
        assert sandbox.resolve_mode(sandbox.Mode.AUTO, BROKEN) is False
    assert "SANDBOX OFF" in caplog.text and "no permission to create namespaces" in caplog.text


class _supported:
    """Pretend bubblewrap works (for the pure policy tests)."""

    def __enter__(self) -> None:
        self._saved = sandbox.probe
        sandbox.probe = lambda: SUPPORT  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        sandbox.probe = self._saved  # type: ignore[method-assign]


# ----------------------------------------------------------------- real programs


def confined(
    argv: list[str],
    cwd: Path,
    spec: sandbox.Sandbox,
    **kwargs: object,
) -> processes.ProcessResult:
    return processes.run(
        argv,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "CANARY": "tn-sandbox-env-canary"},
        timeout=60,
        redactor=redaction.Redactor(),
        sandbox=spec,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """A data dir with a database, another stack's state, and this stack's folders."""
    data = tmp_path / "data"
    paths = {
        "db": data / "truenorth.db",
        "other": data / "state" / "repo" / "other" / "terraform.tfstate",
        "dep": data / "state" / "repo" / "dep" / "terraform.tfstate",
        "state": data / "state" / "repo" / "mine",
        "snapshot": data / "git" / "snapshots" / "abc",
        "config": tmp_path / "truenorth.toml",
    }
    for name in ("db", "other", "dep", "config"):
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        paths[name].write_text(f"tn-canary-{name}\n")
    paths["state"].mkdir(parents=True)
    paths["snapshot"].mkdir(parents=True)
    (paths["snapshot"] / "main.tf").write_text("# repository\n")
    return paths


@pytest.mark.slow
@needs_bwrap
def test_a_confined_program_sees_only_what_it_is_given(world: dict[str, Path]) -> None:
    spec = sandbox.Sandbox(read_only=(world["snapshot"], world["dep"]), writable=(world["state"],))
    script = textwrap.dedent(
        f"""\
        for f in {world["db"]} {world["other"]} {world["config"]} /proc/{os.getpid()}/environ; do
          cat "$f" 2>/dev/null && echo "LEAK $f"
        done
        cat /proc/1/environ | tr '\\0' '\\n' | grep -c PYTEST_CURRENT_TEST
        ls /proc | grep -c '^[0-9]'
        cat {world["dep"]}
        cat {world["snapshot"]}/main.tf
        echo x > {world["snapshot"]}/new 2>/dev/null && echo "LEAK wrote snapshot"
        echo x > {world["dep"]} 2>/dev/null && echo "LEAK wrote dependency"
        echo x > /etc/new 2>/dev/null && echo "LEAK wrote root"
        echo mine > {world["state"]}/terraform.tfstate && echo wrote state
        echo "canary=$CANARY"
        """
    )
    result = confined(["/bin/sh", "-c", script], world["state"], spec)
    assert result.sandboxed
    assert "LEAK" not in result.stdout, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "0", "the controller's environment is not in the sandbox's /proc"
    assert int(lines[1]) <= 6, "only the sandbox's own processes are visible"
    assert "tn-canary-dep" in result.stdout and "# repository" in result.stdout
    assert "wrote state" in result.stdout and "canary=tn-sandbox-env-canary" in result.stdout
    assert (world["state"] / "terraform.tfstate").read_text() == "mine\n"
    assert not (world["snapshot"] / "new").exists()
    assert world["dep"].read_text() == "tn-canary-dep\n"


@pytest.mark.slow
@needs_bwrap
def test_without_network_only_loopback_is_left(tmp_path: Path) -> None:
    result = confined(
        ["/bin/cat", "/proc/net/dev"], tmp_path, sandbox.Sandbox(read_only=(tmp_path,), network=False)
    )
    interfaces = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:]]
    assert interfaces == ["lo"]
    open_net = confined(["/bin/cat", "/proc/net/dev"], tmp_path, sandbox.Sandbox(read_only=(tmp_path,)))
    assert len(open_net.stdout.splitlines()) > 3


@pytest.mark.slow
@needs_bwrap
def test_nothing_a_program_started_outlives_its_run(tmp_path: Path) -> None:
    marker = f"tn-left-behind-{os.getpid()}"
    result = confined(
        ["/bin/sh", "-c", f"setsid sh -c 'exec -a {marker} sleep 300' & echo started"],
        tmp_path,
        sandbox.Sandbox(read_only=(tmp_path,)),
    )
    assert result.ok and result.stdout == "started\n"
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    assert left.stdout == "", "the sandbox's processes end with it"


@pytest.mark.slow
@needs_bwrap
def test_a_cancel_interrupts_the_program_once_and_lets_it_stop_cleanly(tmp_path: Path) -> None:
    cancel = threading.Event()
    result = confined(
        [
            "/bin/sh",
            "-c",
            "n=0; trap 'n=$((n+1))' INT; echo go; while [ $n -eq 0 ]; do sleep 0.02; done; "
            'sleep 0.3; echo "interrupts=$n" > state; exit 130',
        ],
        tmp_path,
        sandbox.Sandbox(writable=(tmp_path,)),
        sink=lambda line: cancel.set(),
        cancel=cancel,
    )
    assert result.cancelled and result.returncode == 130
    assert (tmp_path / "state").read_text() == "interrupts=1\n"


@pytest.mark.slow
@needs_bwrap
def test_a_signal_death_is_reported_as_such(tmp_path: Path) -> None:
    # (A PID 1 is deaf to the signals it does not handle: the program is the inner shell.)
    script = "/bin/sh -c 'kill -TERM $$'; exit $?"
    result = confined(["/bin/sh", "-c", script], tmp_path, sandbox.Sandbox(read_only=(tmp_path,)))
    assert result.returncode == 128 + signal.SIGTERM
    assert "exited with code 143 (128 + SIGTERM: killed by that signal" in result.describe_failure()


@pytest.mark.slow
@needs_bwrap
def test_a_sandbox_that_cannot_be_built_fails_with_bwraps_reason(tmp_path: Path) -> None:
    (tmp_path / "unbound").mkdir()
    result = confined(["/bin/true"], tmp_path / "unbound", sandbox.Sandbox())
    assert not result.ok and "bwrap: Can't chdir" in result.describe_failure()


# ----------------------------------------------------------------- crash safety, confined

DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from truenorth.core import redaction
    from truenorth.engines import processes, sandbox
    script, record = sys.argv[1], Path(sys.argv[2])
    alone = sys.argv[3] == "finish-alone"
    folder = Path(script).parent
    processes.run(["/bin/sh", script], cwd=folder, env={"PATH": "/usr/bin:/bin"},
                  timeout=600, redactor=redaction.Redactor(), sink=lambda line: None, record=record,
                  finish_alone=alone, sandbox=sandbox.Sandbox(writable=(folder,)))
    """
)


@pytest.fixture
def driven() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _wait_for(path: Path) -> None:
    import time

    end = time.monotonic() + DEADLINE
    while not path.exists():
        assert time.monotonic() < end, f"timed out waiting for {path.name}"
        time.sleep(0.02)


def _drive(tmp_path: Path, script: str, started: list[subprocess.Popen[bytes]], *, alone: bool) -> Path:
    path = tmp_path / "script.sh"
    path.write_text(textwrap.dedent(script))
    record = tmp_path / processes.RECORD_FILE
    mode = "finish-alone" if alone else "interrupt"
    started.append(subprocess.Popen([sys.executable, "-c", DRIVER, str(path), str(record), mode]))
    return record


@pytest.mark.slow
@needs_bwrap
def test_a_confined_plan_is_interrupted_when_the_controller_dies_and_can_be_waited_for(
    tmp_path: Path, driven: list[subprocess.Popen[bytes]]
) -> None:
    record_file = _drive(
        tmp_path,
        f"""\
        trap 'sleep 0.3; echo interrupted > {tmp_path}/interrupted; exit 130' INT
        echo started > {tmp_path}/started
        while true; do sleep 0.02; done
        """,
        driven,
        alone=False,
    )
    _wait_for(tmp_path / "started")
    _wait_for(record_file)
    record = survivors.read_record(record_file)
    assert record is not None and survivors.is_running(record)
    driven[0].send_signal(signal.SIGKILL)
    driven[0].wait(timeout=30)
    assert survivors.wait_for_exit(record, timeout=DEADLINE)
    assert (tmp_path / "interrupted").read_text() == "interrupted\n"


@pytest.mark.slow
@needs_bwrap
def test_a_confined_apply_finishes_alone_when_the_controller_dies(
    tmp_path: Path, driven: list[subprocess.Popen[bytes]]
) -> None:
    gate = tmp_path / "gate"
    record_file = _drive(
        tmp_path,
        f"""\
        trap 'echo interrupted > {tmp_path}/interrupted; exit 130' INT
        echo started > {tmp_path}/started
        while [ ! -e {gate} ]; do sleep 0.02; done
        i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done
        echo finished > {tmp_path}/finished
        """,
        driven,
        alone=True,
    )
    _wait_for(tmp_path / "started")
    _wait_for(record_file)
    record = survivors.read_record(record_file)
    assert record is not None
    driven[0].send_signal(signal.SIGKILL)
    driven[0].wait(timeout=30)
    assert survivors.is_running(record), "the sandbox lives on without the controller"
    gate.touch()
    assert survivors.wait_for_exit(record, timeout=DEADLINE)
    assert (tmp_path / "finished").read_text() == "finished\n"
    assert not (tmp_path / "interrupted").exists()


# ----------------------------------------------------------------- limits


@pytest.mark.slow
@pytest.mark.parametrize("confine", [False, True], ids=["unconfined", "confined"])
def test_output_past_the_limit_is_cut_with_a_marker_and_the_program_stopped(
    tmp_path: Path, confine: bool, request: pytest.FixtureRequest
) -> None:
    if confine:
        request.getfixturevalue("bwrap")
    limits = sandbox.Limits(output_bytes=64 * 1024)
    lines: list[str] = []
    result = processes.run(
        ["/bin/sh", "-c", "yes tn-flood-line-of-output"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
        redactor=redaction.Redactor(),
        sink=lines.append,
        limits=limits,
        sandbox=sandbox.Sandbox(read_only=(tmp_path,)) if confine else None,
    )
    assert not result.ok and result.limit.startswith("output: it printed more than 64 KiB")
    assert "stopped at a limit: output" in result.describe_failure()
    kept, _, marker = result.stdout.rpartition("\n... (output cut at the limit of 64 KiB: ")
    assert len(kept.encode()) <= 64 * 1024 and marker.endswith("more bytes)\n")
    assert sum(len(line) + 1 for line in lines) <= 64 * 1024 + 100


@pytest.mark.slow
@pytest.mark.parametrize("confine", [False, True], ids=["unconfined", "confined"])
def test_cpu_time_and_memory_limits_fail_the_program_with_a_reason(
    tmp_path: Path, confine: bool, request: pytest.FixtureRequest
) -> None:
    if confine:
        request.getfixturevalue("bwrap")
    spec = sandbox.Sandbox(read_only=(tmp_path,)) if confine else None
    base = {
        "cwd": tmp_path,
        "env": {"PATH": "/usr/bin:/bin"},
        "timeout": 120,
        "redactor": redaction.Redactor(),
    }
    spin = processes.run(
        ["/bin/sh", "-c", "while :; do :; done"],
        limits=sandbox.Limits(cpu_seconds=1),
        sandbox=spec,
        **base,  # type: ignore[arg-type]
    )
    # SIGXCPU at 1 s; a PID 1 that does not handle it (this shell) is killed 5 s later.
    assert not spin.ok and spin.limit.startswith("CPU time: "), spin
    assert "1 s" in spin.limit and "CPU time" in spin.describe_failure()
    python = "/usr/bin/python3"
    hog = processes.run(
        [python, "-c", "b = bytearray(512 << 20); print(len(b))"],
        limits=sandbox.Limits(memory_bytes=128 << 20),
        sandbox=spec,
        **base,  # type: ignore[arg-type]
    )
    assert not hog.ok and hog.limit == "memory: it needed more than 128 MiB", hog
    fits = processes.run(
        [python, "-c", "b = bytearray(16 << 20); print(len(b))"],
        limits=sandbox.Limits(memory_bytes=128 << 20),
        sandbox=spec,
        **base,  # type: ignore[arg-type]
    )
    assert fits.ok and fits.stdout == f"{16 << 20}\n"


# ----------------------------------------------------------------- kubectl kustomize


@pytest.mark.slow
@needs_bwrap
def test_kustomize_renders_in_the_sandbox_seeing_only_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.engines.kubernetes.test_fixtures import _ctx
    from truenorth.engines.kubernetes import KubernetesEngine

    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (repo / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    seen: list[sandbox.Sandbox | None] = []
    real_run = processes.run

    def spying(*args: object, **kwargs: object) -> processes.ProcessResult:
        seen.append(kwargs.get("sandbox"))  # type: ignore[arg-type]
        return real_run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(processes, "run", spying)
    ctx = _ctx(repo, tmp_path, path="app")
    rendered = KubernetesEngine().render(ctx)
    assert [item["metadata"]["name"] for item in rendered] == ["a"]
    [used] = seen
    assert used is not None, "kubectl kustomize runs sandboxed"
    assert repo in used.read_only and used.writable == (tmp_path / "cache" / "kubernetes-home",)
    assert (tmp_path / "state") not in (*used.read_only, *used.writable)
