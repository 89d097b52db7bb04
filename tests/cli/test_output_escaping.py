"""CLI text output never carries repository text's terminal control characters raw.

A commit subject or a manifest value can hold ESC sequences (clear the screen, retitle
the terminal), a CR (overwrite the line) or a bidi override (show ``exe.txt`` as
``txt.exe``). Printed by the CLI, they come out as visible escapes; rich's own styling
is the only control sequence that reaches the terminal.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo
from truenorth.cli import tables
from truenorth.core import plans

HOSTILE = "a\x1b[2J\x1b]0;pwned\x07b\rc\u202ed\u2066e\x9bf"
RAW = ("\x1b[2J", "\x1b]", "\r", "\u202e", "\u2066", "\x9b", "\x07")


def _raw_free(text: str) -> bool:
    return not any(code in text for code in RAW)


def test_every_printed_renderable_is_escaped_but_styles_stay() -> None:
    console = tables.console()
    console.file = io.StringIO()
    table = Table("stack")
    table.add_row(HOSTILE)
    console.print(Text(HOSTILE, style="bold"))
    console.print(table)
    console.print(f"plain {HOSTILE}")
    out = console.file.getvalue()
    assert _raw_free(out)
    # rich drops BEL and CR itself; ESC, C1 and the bidi controls are ours to escape.
    assert out.count("a\\x1b[2J\\x1b]0;pwnedbc\\u202ed\\u2066e\\x9bf") == 3

    styled = Console(file=io.StringIO(), force_terminal=True, color_system="standard")
    styled.push_render_hook(tables._EscapingHook())
    styled.print(Text("x\x1b[31m", style="bold red"))
    assert styled.file.getvalue() == "\x1b[1;31mx\\x1b[31m\x1b[0m\n"


def test_a_plan_with_hostile_names_prints_escaped() -> None:
    console = tables.console()
    console.file = io.StringIO()
    change = plans.Change(
        address=f"core/ConfigMap/team/{HOSTILE}",
        action=plans.Action.CREATE,
        after={"data": {"k": HOSTILE}},
        diff=f"+  k: {HOSTILE}",
    )
    plan = plans.Plan(
        stack="app",
        engine="kubernetes",
        revision="a" * 40,
        changes=(change,),
        summary=plans.summarize([change]),
    )
    tables.print_plan(console, plan)
    assert _raw_free(console.file.getvalue()) and "\\u202e" in console.file.getvalue()
    assert tables.terminal_safe(HOSTILE + "\n") == "a\\x1b[2J\\x1b]0;pwned\\x07b\\rc\\u202ed\\u2066e\\x9bf\n"


def test_render_escapes_repository_values(tmp_path: Path, invoke: Invoke) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        f"subject {HOSTILE}",
        {
            "truenorth.yaml": "stacks:\n  - {name: k, engine: kubernetes, path: k}\n",
            "k/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n"
            'data:\n  k: "\\e[2J\\r\\u202e x"\n',
        },
    )
    result = invoke("render", repo.url, "--stack", "k")
    assert result.exit_code == 0, result.stderr
    assert _raw_free(result.stdout + result.stderr)
    assert "\\u202e x" in result.stdout
