"""The columns of a PDF page and the order they are read in.

A gutter (a vertical strip near the middle that no glyph crosses) splits two-column pages; lines that span it (title,
abstract, wide figures) cut the page into bands, and each band is read left column first.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._pdfglyphs import Line

__all__ = ["find_gutter", "reading_order", "split_columns"]


def find_gutter(lines: Sequence[Line], width: float) -> float | None:
    """x of the gutter of a two-column page, or None."""
    lo, hi = int(width * 0.35), int(width * 0.65)
    cover = [0] * (int(width) + 2)
    body = [ln for ln in lines if len(ln.glyphs) > 3]
    if len(body) < 6:
        return None
    for ln in body:
        for g in ln.glyphs:
            for x in range(max(int(g.x0), 0), min(int(g.x1) + 1, len(cover))):
                cover[x] += 1
    best: tuple[int, int] | None = None
    start = None
    for x in range(lo, hi + 1):
        if cover[x] <= max(1, len(body) // 50):
            start = x if start is None else start
            if best is None or x - start > best[1] - best[0]:
                best = (start, x)
        else:
            start = None
    if best is None or best[1] - best[0] < 6:
        return None
    gutter = (best[0] + best[1]) / 2
    left = sum(1 for ln in body if ln.x1 < gutter)
    right = sum(1 for ln in body if ln.x0 > gutter)
    return gutter if left >= 3 and right >= 3 else None


def _split_at(line: Line, gutter: float, header: bool) -> list[Line]:
    """A line that crosses the gutter in a gap is two column lines; in the page's header (above the columns) only
    when one half touches the gutter (authors side by side keep away from it)."""
    left = [g for g in line.glyphs if g.cx < gutter]
    right = [g for g in line.glyphs if g.cx >= gutter]
    if not left or not right or max(g.x1 for g in left) > gutter or min(g.x0 for g in right) < gutter:
        return [line]
    if header and gutter - max(g.x1 for g in left) > 10 and min(g.x0 for g in right) - gutter > 10:
        return [line]
    return [Line(left, line.base, line.size), Line(right, line.base, line.size)]


def split_columns(lines: Sequence[Line], width: float) -> tuple[list[Line], float | None]:
    """The lines with those that cross the gutter of a two-column page cut in two; and the gutter."""
    gutter = find_gutter(lines, width)
    if gutter is None:
        return list(lines), None
    # The columns start at the first justified line of the left column; above it (title, authors side by side)
    # nothing is cut.
    full = [ln.top for ln in lines if gutter - 12 < ln.x1 <= gutter and ln.x1 - ln.x0 > 0.6 * gutter]
    start = min(full, default=0.0) - 1
    return [p for ln in lines for p in _split_at(ln, gutter, ln.top < start)], gutter


def reading_order(parts: Sequence[Line], gutter: float | None) -> list[list[Line]]:
    """Columns in reading order, each a list of lines top to bottom."""
    if gutter is None:
        return [list(parts)]
    out: list[list[Line]] = []
    left: list[Line] = []
    right: list[Line] = []
    for ln in sorted(parts, key=lambda p: p.base):
        if ln.x1 <= gutter:
            left.append(ln)
        elif ln.x0 >= gutter:
            right.append(ln)
        else:  # spanning: closes the band above it
            out.extend(c for c in (left, right) if c)
            left, right = [], []
            out.append([ln])
    out.extend(c for c in (left, right) if c)
    return out
