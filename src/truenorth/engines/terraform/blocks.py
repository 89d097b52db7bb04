"""The top-level blocks of a Terraform file, found by one linear scan (no HCL parser).

python-hcl2 is thorough but slow: 0.38 s for a file of 50 small resources, and 0.7 s to
build its grammar on first use, on every plan and apply of a stack, for facts that sit
in a few small blocks (which ``variable`` is ``sensitive``; which providers, modules and
backend ``init`` needs). So the engine first cuts a file into its top-level blocks here,
and parses only the few blocks it needs, one at a time.

The scan: strings and comments are blanked in a copy of the same length (so positions
in the copy are positions in the text), braces are matched in the copy, and each
top-level ``{`` is one block, its header (``resource "type" "name"``) read from the text
before it. Every pattern runs once over the text, with no nested repetition: linear
time in the file's length, whatever the repository holds. A file that does not scan
cleanly (an unclosed brace, an unclosed string) is reported as such (``complete``
False): callers then treat the whole file as one opaque fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Block", "Scan", "blank", "scan"]

# A string (possessive loop, unterminated: to the end of the line), or a comment of one
# of HCL's three kinds (unterminated block comment: to the end of the text). Heredocs
# are not strings to this scan; a brace inside one is rare, and only makes the file
# "incomplete" (treated as opaque), never wrong.
_SKIPPED = re.compile(r'"(?:[^"\\\n]|\\.)*+"?|#[^\n]*|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)
_BRACE = re.compile(r"[{}]")
# A block header, the line before its `{`: an identifier and up to a few labels, each a
# quoted string or an identifier. Matched whole (anchored at both ends) on that line only.
_HEADER = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)((?:[ \t]+(?:"[^"\n]*"|[A-Za-z_][A-Za-z0-9_-]*)){0,4})')
_LABEL = re.compile(r'"([^"\n]*)"|([A-Za-z_][A-Za-z0-9_-]*)')


@dataclass(frozen=True)
class Block:
    """One top-level block: its type, labels, and body (the text between its braces)."""

    type: str
    labels: tuple[str, ...]
    #: The body as written (strings and comments included).
    body: str
    #: The body with strings and comments blanked (same length as ``body``).
    plain: str

    @property
    def text(self) -> str:
        """The block as HCL text, header included (what a parser of one block needs)."""
        header = " ".join([self.type, *(f'"{label}"' for label in self.labels)])
        return f"{header} {{{self.body}}}\n"


@dataclass(frozen=True)
class Scan:
    """A file's top-level blocks; ``complete`` is False when some text was not understood."""

    blocks: tuple[Block, ...]
    complete: bool


def blank(text: str) -> str:
    """``text`` with every string's content and every comment replaced by spaces.

    Newlines are kept and the length is the same, so an offset means the same place in
    both texts.
    """

    def spaces(match: re.Match[str]) -> str:
        found = match.group()
        if found.startswith('"'):
            inner = re.sub(
                r"[^\n]", " ", found[1:-1] if len(found) > 1 and found.endswith('"') else found[1:]
            )
            return '"' + inner + ('"' if len(found) > 1 and found.endswith('"') else "")
        return re.sub(r"[^\n]", " ", found)

    return _SKIPPED.sub(spaces, text)


def scan(text: str) -> Scan:
    """The top-level blocks of the HCL ``text``, in order."""
    plain = blank(text)
    blocks: list[Block] = []
    complete = True
    depth = 0
    opened = 0
    previous_end = 0
    for brace in _BRACE.finditer(plain):
        if brace.group() == "{":
            if depth == 0:
                opened = brace.start()
            depth += 1
            continue
        if depth == 0:
            complete = False  # a stray `}`
            continue
        depth -= 1
        if depth:
            continue
        line_start = max(plain.rfind("\n", previous_end, opened) + 1, previous_end)
        header = _HEADER.fullmatch(text[line_start:opened].strip(" \t"))
        if header is None or plain[previous_end:line_start].strip():
            complete = False  # something other than a block header before the brace
        else:
            labels = tuple(q if q is not None else bare for q, bare in _LABEL.findall(header.group(2)))
            blocks.append(
                Block(
                    type=header.group(1),
                    labels=labels,
                    body=text[opened + 1 : brace.start()],
                    plain=plain[opened + 1 : brace.start()],
                )
            )
        previous_end = brace.end()
    if depth or plain[previous_end:].strip():
        complete = False
    return Scan(blocks=tuple(blocks), complete=complete)
