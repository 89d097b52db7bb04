"""Case 26 and friends: a missing, wrong or dying binary, timeouts and cancels."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import TERRAFORM, Lab, stack
from truenorth.core import runs
from truenorth.engines import sandbox
from truenorth.engines.protocol import EngineError
from truenorth.engines.terraform import TerraformEngine

pytestmark = pytest.mark.slow

SIMPLE = {"stacks/one/main.tf": 'resource "terraform_data" "x" { input = "one" }\n'}


def fake_binary(tmp_path: Path, body: str) -> str:
    """A tiny shell script standing in for a broken terraform (fault tests only)."""
    path = tmp_path / "fake-terraform"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_missing_binary_is_a_clear_error(lab: Lab, tmp_path: Path) -> None:
    engine = TerraformEngine(binary_paths={"terraform": str(tmp_path / "no-such-terraform")})
    with pytest.raises(EngineError, match=r"stack 'one': terraform not found at .*no-such-terraform"):
        engine.plan(lab.ctx(stack("one"), lab.checkout(SIMPLE)))
    assert engine.version() is None


def test_binary_not_on_path(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(lab.root / "empty-bin"))
    engine = TerraformEngine()
    assert engine.version() is None
    with pytest.raises(EngineError, match=r"stack 'one': terraform is not installed \(not found on PATH\)"):
        engine.plan(lab.ctx(stack("one"), lab.checkout(SIMPLE)))
    tofu = stack("one", binary="tofu")
    with pytest.raises(EngineError, match="tofu is not installed"):
        engine.plan(lab.ctx(tofu, lab.checkout(SIMPLE, name="rev2")))


def test_version_of_the_real_binary(engine: TerraformEngine) -> None:
    assert engine.version() == "1.11.4"


def test_binary_killed_by_a_signal(lab: Lab, tmp_path: Path) -> None:
    # Answers `version` like the real one, then dies by SIGKILL on `init` (unconfined: in
    # the sandbox the program is its PID namespace's init, which its own SIGKILL spares).
    fake = fake_binary(tmp_path, f'if [ "$1" = version ]; then exec {TERRAFORM} "$@"; fi\nkill -KILL $$\n')
    engine = TerraformEngine(binary_paths={"terraform": fake})
    with pytest.raises(
        EngineError, match=r"stack 'one': init failed: fake-terraform was killed by signal SIGKILL"
    ):
        engine.plan(
            lab.ctx(stack("one"), lab.checkout(SIMPLE), sandbox=sandbox.Policy(mode=sandbox.Mode.OFF))
        )


@pytest.mark.usefixtures("bwrap")
def test_sandboxed_binary_killed_by_a_signal(lab: Lab, tmp_path: Path) -> None:
    # A crash (the kernel's SIGSEGV reaches even a namespace's init), reported through bwrap.
    crash = "import ctypes; ctypes.string_at(0)"
    fake = fake_binary(
        tmp_path, f'if [ "$1" = version ]; then exec {TERRAFORM} "$@"; fi\nexec python3 -c "{crash}"\n'
    )
    engine = TerraformEngine(binary_paths={"terraform": fake})
    with pytest.raises(
        EngineError, match=r"stack 'one': init failed: fake-terraform exited with code 139 \(128 \+ SIGSEGV"
    ):
        engine.plan(lab.ctx(stack("one"), lab.checkout(SIMPLE)))


def test_binary_killed_while_reporting_its_version(lab: Lab, tmp_path: Path) -> None:
    engine = TerraformEngine(binary_paths={"terraform": fake_binary(tmp_path, "kill -KILL $$\n")})
    assert engine.version() is None
    with pytest.raises(
        EngineError, match=r"stack 'one': .*version -json` failed: .*killed by signal SIGKILL"
    ):
        engine.plan(lab.ctx(stack("one"), lab.checkout(SIMPLE)))


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('{"terraform_version": "0.12.31"}', r"version 0\.12\.31, too old: truenorth needs 1\.4\.0 or newer"),
        ("Terraform v1.11.4", r"did not report a Terraform version"),
    ],
)
def test_wrong_version_is_refused(lab: Lab, tmp_path: Path, output: str, expected: str) -> None:
    engine = TerraformEngine(binary_paths={"terraform": fake_binary(tmp_path, f"echo '{output}'\n")})
    with pytest.raises(EngineError, match=rf"stack 'one': terraform \(.*fake-terraform\) .*{expected}"):
        engine.plan(lab.ctx(stack("one"), lab.checkout(SIMPLE)))


def slow_stack(lab: Lab, *, seconds: str = "30") -> Path:
    """A stack whose apply runs ``sleep SECONDS`` (found by that argument: in the sandbox,
    a pid it printed would be one of its own PID namespace)."""
    config = f"""
resource "terraform_data" "slow" {{
  provisioner "local-exec" {{
    command = "echo sleeping-now; exec sleep {seconds}"
  }}
}}
"""
    return lab.checkout({"stacks/slow/main.tf": config})


def unique_seconds() -> str:
    return f"300.{time.monotonic_ns() % 10**6:06d}"


def test_cancel_stops_a_running_apply(lab: Lab, engine: TerraformEngine) -> None:
    seconds = unique_seconds()
    checkout = slow_stack(lab, seconds=seconds)
    spec = stack("slow")
    plan = engine.plan(lab.ctx(spec, checkout))
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def watch(line: str) -> None:
        if "sleeping-now" in line:  # the provisioner is running its sleep now
            cancelled_at.append(time.monotonic())
            cancel.set()

    result = engine.apply(lab.ctx(spec, checkout, cancel=cancel, on_output=watch), plan)
    # Counted from the cancel (an event), not from the start: Terraform may start slowly
    # on a busy machine; what matters is that the 300 s sleep did not run out.
    assert cancel.is_set() and time.monotonic() - cancelled_at[0] < 120
    assert result.status is runs.RunStatus.CANCELLED
    assert "stack 'slow'" in result.error and "cancelled" in result.error
    assert "Provisioning with 'local-exec'" in result.output  # what happened is kept
    assert _sleeping(seconds) == []


def _sleeping(needle: str) -> list[int]:
    """Pids of live processes whose command line holds ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def test_timeout_stops_a_running_apply(lab: Lab, engine: TerraformEngine) -> None:
    # The timeout counts from the start of `terraform apply`: on a busy machine Terraform
    # may not even reach the provisioner within it. Either way nothing may survive it, so
    # the sleep is found by its unique argument, not only by the pid it may have written.
    seconds = unique_seconds()
    checkout = slow_stack(lab, seconds=seconds)
    spec = stack("slow")
    plan = engine.plan(lab.ctx(spec, checkout))
    started = time.monotonic()
    result = engine.apply(lab.ctx(spec, checkout, timeout=6), plan)
    assert 5.5 < time.monotonic() - started < 120  # far below the 300 s sleep
    assert result.status is runs.RunStatus.FAILED
    assert "stack 'slow': apply failed: terraform timed out" in result.error
    assert _sleeping(seconds) == []


def test_cancel_before_start_runs_nothing(lab: Lab, engine: TerraformEngine) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EngineError, match="cancelled before init"):
        engine.plan(lab.ctx(stack("one"), lab.checkout(SIMPLE), cancel=cancel))
    assert not (lab.data / "state" / "one" / "data").exists()
    work = lab.data / "state" / "one" / "work"
    assert set(os.listdir(work)) <= {"terraformrc", "home"}  # home: of sandboxed commands
    assert not (work / "home").exists() or os.listdir(work / "home") == []
