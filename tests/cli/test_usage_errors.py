"""A usage error exits 1, never 2 (which means "changes present"), for every command.

Click ends an unknown option, a missing argument or a bad value with exit code 2; a CI
job gating on ``truenorth plan``'s 2 would read a typo as a plan with changes. The
commands are enumerated from the app itself, so a command added later is covered
without editing this file. Nothing here reaches a command's body: every case fails
while its arguments are parsed.
"""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from truenorth.cli import main

GROUP = typer.main.get_command(main.app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main.app, list(args))
    assert not isinstance(result.exception, AssertionError)
    return result.exit_code, result.stdout + result.stderr


def _params(name: str) -> list[object]:
    return list(GROUP.commands[name].params)  # type: ignore[attr-defined]


def test_every_command_is_covered() -> None:
    assert {"plan", "apply", "drift", "logs", "refresh", "history", "serve", "version"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_exits_1(command: str) -> None:
    code, output = _invoke(command, "--no-such-option")
    assert code == 1, output
    assert "No such option" in output


@pytest.mark.parametrize(
    "command",
    [name for name in COMMANDS if any(p.required for p in _params(name))],  # type: ignore[attr-defined]
)
def test_a_missing_argument_exits_1(command: str) -> None:
    code, output = _invoke(command)
    assert code == 1, output
    assert "Missing" in output


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (name, param.opts[0])  # type: ignore[attr-defined]
        for name in COMMANDS
        for param in _params(name)
        if param.param_type_name == "option" and not param.is_flag  # type: ignore[attr-defined]
    ],
)
def test_an_option_without_its_value_exits_1(command: str, option: str) -> None:
    args = [command, "x"] if any(p.required for p in _params(command)) else [command]  # type: ignore[attr-defined]
    code, output = _invoke(*args, option)
    assert code == 1, output
    assert "requires an argument" in output


@pytest.mark.parametrize(
    "args",
    [
        ["history", "--limit", "0"],
        ["history", "--limit", "many"],
        ["logs", "not-a-number"],
        ["logs", "0"],
        ["plan", "repo", "-o", "yaml"],
        ["no-such-command"],
        ["--no-such-option"],
        [],  # no command at all: the help, and 1
    ],
)
def test_a_bad_value_or_command_exits_1(args: list[str]) -> None:
    code, output = _invoke(*args)
    assert code == 1, output
    assert "Usage:" in output


def test_help_still_exits_0() -> None:
    for args in (["--help"], ["plan", "--help"], ["logs", "--help"]):
        code, output = _invoke(*args)
        assert code == 0, output
