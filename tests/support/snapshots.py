"""Plain-text snapshots: what the CLI prints, kept in ``tests/data/snapshots/`` and compared exactly.

A snapshot test renders fixed data (frozen plans, fixed datetimes) on the CLI's own
console (:func:`truenorth.cli.tables.console`, so control characters are escaped as in a
terminal) at a fixed width, without colour, and compares the text with
``tests/data/snapshots/<name>.txt`` byte for byte. A difference fails with a unified
diff. To accept a change on purpose, run the tests again with
``TRUENORTH_UPDATE_SNAPSHOTS=1`` (``TRUENORTH_UPDATE_SNAPSHOTS=1 make test-unit``): every
snapshot that differs or is missing is written, and ``git diff tests/data/snapshots``
shows what changed, to review like code.

Trailing spaces (rich pads some lines; invisible in a terminal) are dropped from every
line, so that an editor that trims them cannot break a snapshot.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from truenorth.cli import tables

__all__ = ["SNAPSHOTS", "UPDATE", "WIDTH", "check", "console", "printed", "text"]

SNAPSHOTS = Path(__file__).resolve().parents[1] / "data" / "snapshots"
#: Read once, at import: the suite's autouse fixture removes ``TRUENORTH_*`` for each test.
UPDATE = os.environ.get("TRUENORTH_UPDATE_SNAPSHOTS", "") == "1"
#: The terminal width every snapshot is rendered at.
WIDTH = 100

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def console(*, width: int = WIDTH) -> Console:
    """A CLI console (:func:`truenorth.cli.tables.console`) ``width`` columns wide that
    records what it prints instead of writing to the terminal; :func:`text` reads it."""
    made = tables.console()
    made.file = io.StringIO()
    made.width = width
    made.record = True
    return made


def text(recorded: Console) -> str:
    """What ``recorded`` (from :func:`console`) printed, as plain text without colour."""
    return "".join(line.rstrip() + "\n" for line in recorded.export_text(styles=False).splitlines())


def printed(draw: Callable[[Console], None], *, width: int = WIDTH) -> str:
    """What ``draw`` prints on a CLI console ``width`` columns wide, as plain text."""
    made = console(width=width)
    draw(made)
    return text(made)


def check(name: str, text: str, *, folder: Path = SNAPSHOTS, update: bool = UPDATE) -> None:
    """Fail unless ``text`` is exactly the snapshot ``<folder>/<name>.txt`` (or, with
    ``update``, write it when it differs)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"a snapshot name is lowercase words joined by '-': {name!r}")
    path = folder / f"{name}.txt"
    expected = path.read_text(encoding="utf-8") if path.is_file() else None
    if expected == text:
        return
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    hint = "run again with TRUENORTH_UPDATE_SNAPSHOTS=1 to write it, then review `git diff`"
    if expected is None:
        raise AssertionError(f"no snapshot {path.name} in {folder}: {hint}\n\n{text}")
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=f"{path.name} (snapshot)",
        tofile=f"{path.name} (printed now)",
    )
    raise AssertionError(f"{path.name} differs from what is printed now ({hint}):\n{''.join(diff)}")
