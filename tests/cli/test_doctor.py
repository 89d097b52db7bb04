"""`truenorth doctor` reports the real programs and their versions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from truenorth.engines import processes


@pytest.mark.slow
def test_doctor_reports_terraform_and_ansible_versions(invoke: Invoke) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.stdout
    tf = json.loads(subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True).stdout)
    assert tf["terraform_version"] in result.stdout
    import ansible.release

    assert ansible.release.__version__ in result.stdout
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    assert git in result.stdout  # asked through engines/processes.py, the CLI starts no process
    assert "kubectl" in result.stdout and "missing" in result.stdout  # tofu is not installed here
    helm = next(line for line in result.stdout.splitlines() if "helm" in line)
    assert "missing (not needed)" in helm  # helm is not installed here; charts are refused


@pytest.mark.slow
def test_a_version_is_the_first_line_a_working_program_prints(tmp_path: Path) -> None:
    talkative = tmp_path / "talkative"
    talkative.write_text("#!/bin/sh\necho\necho 'talkative 1.2.3 '\necho 'built today'\n")
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho 'usage: failing' >&2\nexit 3\n")
    for script in (talkative, failing):
        script.chmod(0o700)
    assert processes.version_of([str(talkative), "--version"]) == "talkative 1.2.3"
    assert processes.version_of([str(failing), "--version"]) is None
    assert processes.version_of([str(tmp_path / "missing"), "--version"]) is None
    assert processes.version_of(["truenorth-no-such-program", "--version"]) is None
