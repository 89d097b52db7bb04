"""Terraform's own rendering of a plan, kept as the plan's text (issue #15).

``terraform plan -out=FILE`` prints the saved plan exactly as ``terraform show FILE``
renders it (same renderer, same order, ``(sensitive value)``, ``(known after apply)``,
``# forces replacement``, nested values on many lines), preceded only by progress lines
(``aws_vpc.main: Refreshing state... [id=...]``, ``data.x: Reading...``). So the
engine keeps that standard output, minus the leading progress lines, as the plan's
text instead of running ``terraform show`` once more: the text people read is
Terraform's, and an operation costs no extra process. The progress lines still reach
the run's log live.

:data:`NATIVE_TEXT` in ``Plan.meta`` tells the CLI that ``Plan.output`` is that
rendering (it prints it as is); a plan whose output was cut at the output limit is not
marked, and the CLI renders its structured changes instead, so a cut never hides a change.

Pure. Every pattern here is anchored and has no nested repetition: linear in a line.
"""

from __future__ import annotations

import re

__all__ = ["NATIVE_TEXT", "native_text"]

#: ``Plan.meta`` key: True when ``Plan.output`` is the engine's complete rendering of the plan.
NATIVE_TEXT = "native_text"

# `<address>: Refreshing state... [id=...]`, `Reading...`, `Read complete after 1s`,
# `Still reading... [10s elapsed]`, `Preparing import... [id=...]`: one line each.
_PROGRESS = re.compile(
    r"[^\s:][^\n]*: (?:Refreshing state\.\.\.|Reading\.\.\.|Read complete after |"
    r"Still reading\.\.\.|Preparing import\.\.\.|Importing from ID |Import prepared!)"
)


def native_text(stdout: str) -> str:
    """``terraform plan``'s standard output as ``terraform show PLANFILE`` prints it.

    Leading progress lines and blank lines are dropped; the rest is kept verbatim
    (trailing whitespace trimmed), so that it compares equal to ``terraform show``.
    """
    lines = stdout.splitlines()
    start = 0
    while start < len(lines) and (not lines[start].strip() or _PROGRESS.match(lines[start])):
        start += 1
    return "\n".join(lines[start:]).rstrip() + "\n" if start < len(lines) else ""
