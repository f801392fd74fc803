"""Source lines as the block scanner sees them: physical line bounds plus where a line's content starts once the
prefixes of its containers (``> ``, list item indentation) are taken off. Offsets only, so every range still points
into the original string."""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Line", "indent", "is_blank", "line_text", "split_lines", "strip_cols"]


class Line(NamedTuple):
    start: int  # physical line start
    cstart: int  # content start after container prefixes
    end: int  # end of content (line break excluded)
    nl_end: int  # end including the line break


def split_lines(text: str) -> list[Line]:
    """The lines of ``text`` (``\\r\\n``, ``\\n`` or ``\\r`` breaks), content starting at the line start."""
    lines: list[Line] = []
    pos, n = 0, len(text)
    for m in re.finditer(r"\r\n|\n|\r", text):
        lines.append(Line(pos, pos, m.start(), m.end()))
        pos = m.end()
    if pos < n:
        lines.append(Line(pos, pos, n, n))
    return lines


def line_text(src: str, line: Line) -> str:
    """The line's content (container prefixes and line break excluded)."""
    return src[line.cstart : line.end]


def is_blank(src: str, line: Line) -> bool:
    return not line_text(src, line).strip()


def indent(src: str, line: Line) -> tuple[int, int]:
    """(columns of leading whitespace, index of the first non-blank character) of the line's content."""
    cols, i = 0, line.cstart
    while i < line.end and src[i] in " \t":
        cols += 4 - cols % 4 if src[i] == "\t" else 1
        i += 1
    return cols, i


def strip_cols(src: str, line: Line, cols: int) -> Line:
    """The line with up to ``cols`` columns of leading whitespace moved into its prefix."""
    got, i = 0, line.cstart
    while i < line.end and got < cols and src[i] in " \t":
        got += 4 - got % 4 if src[i] == "\t" else 1
        i += 1
    return Line(line.start, i, line.end, line.nl_end)
