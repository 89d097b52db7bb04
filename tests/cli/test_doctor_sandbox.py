"""`truenorth doctor` reports bubblewrap and what the sandbox mode makes of it."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Invoke
from truenorth.engines import sandbox

BROKEN = sandbox.Support(works=False, bwrap="/usr/bin/bwrap", reason="bwrap fails here: no namespaces")

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("bwrap")
def test_doctor_says_engines_run_in_bubblewrap(invoke: Invoke) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.stdout
    assert "bwrap" in result.stdout and "works" in result.stdout
    assert "sandbox: auto: every engine program runs in bubblewrap" in result.stdout


def test_doctor_says_loudly_when_engines_run_unconfined(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "probe", lambda: BROKEN)
    fallback = invoke("doctor")
    assert fallback.exit_code == 0, fallback.stdout
    assert "SANDBOX OFF" in fallback.stdout and "UNCONFINED" in fallback.stdout
    monkeypatch.setenv("TRUENORTH_SANDBOX", "required")
    refused = invoke("doctor")
    assert refused.exit_code == 1
    assert "REFUSED" in refused.stdout and "no engine program will run" in refused.stdout
    monkeypatch.setenv("TRUENORTH_SANDBOX", "off")
    off = invoke("doctor")
    assert off.exit_code == 0 and "engine programs run UNCONFINED" in off.stdout
