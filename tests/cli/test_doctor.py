"""`truenorth doctor` reports the real programs and their versions."""

from __future__ import annotations

import json
import subprocess

from tests.cli.conftest import Invoke


def test_doctor_reports_terraform_and_ansible_versions(invoke: Invoke) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.stdout
    tf = json.loads(subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True).stdout)
    assert tf["terraform_version"] in result.stdout
    import ansible.release

    assert ansible.release.__version__ in result.stdout
    assert "kubectl" in result.stdout and "missing" in result.stdout  # tofu is not installed here
