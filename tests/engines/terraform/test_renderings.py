"""Terraform's own text of a plan, from ``terraform plan``'s standard output (issue #15)."""

from __future__ import annotations

from pathlib import Path

from truenorth.engines.terraform import renderings

DATA = Path(__file__).resolve().parents[2] / "data" / "terraform"


def test_the_plan_commands_output_is_what_terraform_show_prints() -> None:
    """Recorded with the real Terraform (``generate.py``): the same saved plan's
    ``terraform plan`` standard output and ``terraform show`` text."""
    stdout = (DATA / "plan-nested.stdout.txt").read_text()
    shown = (DATA / "plan-nested.show.txt").read_text()
    assert "Refreshing state..." in stdout
    assert renderings.native_text(stdout) == shown.strip("\n") + "\n"


def test_only_leading_progress_lines_go() -> None:
    stdout = (
        "data.x: Reading...\n"
        "data.x: Read complete after 0s [id=1]\n"
        "a.b: Still reading... [10s elapsed]\n"
        "a.b: Refreshing state... [id=2]\n"
        "\n"
        "No changes.\n"
        "x: Refreshing state... is kept here\n"
    )
    assert renderings.native_text(stdout) == "No changes.\nx: Refreshing state... is kept here\n"
    assert renderings.native_text("") == ""
    assert renderings.native_text("a.b: Reading...\n") == ""


def test_a_long_line_is_matched_in_linear_time() -> None:
    line = "a" + ":" * 200_000 + "\n"
    assert renderings.native_text(line) == line
