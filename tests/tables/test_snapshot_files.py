"""The snapshot files themselves: exact comparison, a readable diff, updates only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tests.support import snapshots


def test_the_same_text_passes(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_text("a\nb\n")
    snapshots.check("same", "a\nb\n", folder=tmp_path, update=False)


def test_a_difference_fails_with_a_diff_and_leaves_the_file(tmp_path: Path) -> None:
    (tmp_path / "table.txt").write_text("a\nb\n")
    with pytest.raises(AssertionError) as raised:
        snapshots.check("table", "a\nc\n", folder=tmp_path, update=False)
    message = str(raised.value)
    assert "-b\n" in message and "+c\n" in message
    assert "TRUENORTH_UPDATE_SNAPSHOTS=1" in message
    assert (tmp_path / "table.txt").read_text() == "a\nb\n"


def test_a_trailing_space_is_a_difference(tmp_path: Path) -> None:
    (tmp_path / "exact.txt").write_text("a\n")
    with pytest.raises(AssertionError):
        snapshots.check("exact", "a \n", folder=tmp_path, update=False)


def test_a_missing_snapshot_fails_and_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"no snapshot new\.txt"):
        snapshots.check("new", "text\n", folder=tmp_path, update=False)
    assert not (tmp_path / "new.txt").exists()


def test_updating_writes_what_differs_or_is_missing(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("before\n")
    snapshots.check("old", "after\n", folder=tmp_path, update=True)
    snapshots.check("new", "made\n", folder=tmp_path / "sub", update=True)
    assert (tmp_path / "old.txt").read_text() == "after\n"
    assert (tmp_path / "sub" / "new.txt").read_text() == "made\n"


@pytest.mark.parametrize("name", ["../escape", "Upper", "with space", "", "a--b", "dot.txt"])
def test_a_snapshot_name_is_plain_words(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="snapshot name"):
        snapshots.check(name, "x\n", folder=tmp_path, update=True)
    assert list(tmp_path.iterdir()) == []


def test_printed_text_is_plain_fixed_width_and_escaped() -> None:
    def draw(console: Console) -> None:
        table = Table("name", "error")
        table.add_row(Text("network"), Text("x" * 60, style="red"))
        console.print(table)
        console.print(Text("evil\x1b[31m name", style="bold"))
        console.print(Text("a long line " * 20, style="bold"))

    lines = snapshots.printed(draw, width=40).splitlines(keepends=True)
    text = "".join(lines)
    assert "\x1b" not in text, "no colour codes, and the name's escape is shown, not obeyed"
    assert lines[-2] == "evil\\x1b[31m name\n"
    assert {len(line.rstrip("\n")) for line in lines[:-2]} == {40}, "the table fits the fixed width"
    assert lines[-1] == ("a long line " * 20).rstrip() + "\n", "a long line is neither wrapped nor padded"
