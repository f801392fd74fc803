"""The glyphs and rules of a PDF page (from pdfplumber), grouped into text lines that keep their sub/superscripts.

A line is built around its full-size glyphs (same baseline); smaller glyphs (scripts, limits) and TeX's extension-font
glyphs (big operators, delimiters) join the line whose band they sit in, so that ``x_i`` or ``\\sum_{t=0}^T`` stays
with its base. Text at a small size on its own (footnotes, captions) still forms its own lines.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ._pdfmath import ACCENTS, CID, COMBINING, base_font, glyph_latex, is_math_char, is_math_font

__all__ = ["Glyph", "Line", "Rule", "build_lines", "page_glyphs", "page_rules"]

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}


@dataclass(slots=True)
class Glyph:
    text: str
    font: str
    size: float
    x0: float
    x1: float
    top: float
    bottom: float
    base: float  # baseline, measured from the top of the page like ``top``
    math: bool = False  # set by font and character class here; sub/superscript geometry is judged per line
    latex: str = ""
    extension: bool = False  # a glyph of TeX's math extension font (big operator or delimiter), a radical sign
    accent: bool = False  # a math accent (hat, tilde, bar, dot) set above the glyph it belongs to
    node: bool = False  # a built piece of a formula (a fraction, a radical), never a script

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass
class Rule:
    """A thin horizontal stroke: a fraction bar, a radical's overbar, a table rule."""

    x0: float
    x1: float
    y: float


@dataclass
class Line:
    glyphs: list[Glyph] = field(default_factory=list)
    base: float = 0.0
    size: float = 0.0

    @property
    def x0(self) -> float:
        return min(g.x0 for g in self.glyphs)

    @property
    def x1(self) -> float:
        return max(g.x1 for g in self.glyphs)

    @property
    def top(self) -> float:
        return min(g.top for g in self.glyphs)

    @property
    def bottom(self) -> float:
        return max(g.bottom for g in self.glyphs)


def page_glyphs(page: Any) -> list[Glyph]:
    """Upright, visible glyphs of a pdfplumber page (rotated margin stamps such as arXiv's are left out)."""
    out: list[Glyph] = []
    height = float(page.height)
    for c in page.chars:
        text = c.get("text") or ""
        if not c.get("upright", True) or not text.strip():
            continue
        text = _LIGATURES.get(text, text)
        font = base_font(str(c.get("fontname", "")))
        matrix = c.get("matrix") or (1, 0, 0, 1, 0, height - float(c["bottom"]))
        g = Glyph(text, font, float(c.get("size") or 0.0), float(c["x0"]), float(c["x1"]), float(c["top"]),
                  float(c["bottom"]), height - float(matrix[5]))
        upper = font.upper()
        g.extension = (CID.match(text) is not None and "EX" in upper[:6]) or text == "√"
        g.accent = text in ACCENTS or (text == "`" and not is_math_font(font))
        if g.extension:  # TeX hangs radicals and big delimiters below their origin: the ink starts at the baseline
            g.bottom = g.base + (g.bottom - g.top)
            g.top = g.base
        g.math = is_math_font(font) or is_math_char(text) or g.extension
        g.latex = glyph_latex(text, font)
        out.append(g)
    return out


def page_rules(page: Any) -> list[Rule]:
    """Horizontal strokes of the page: pdfplumber lines and rectangles no thicker than 1.5 pt."""
    rules: list[Rule] = []
    for obj in list(page.lines) + list(page.rects):
        x0, x1, top, bottom = (float(obj[k]) for k in ("x0", "x1", "top", "bottom"))
        if bottom - top <= 1.5 and x1 - x0 >= 2.0:
            rules.append(Rule(x0, x1, (top + bottom) / 2))
    return rules


def _anchor(g: Glyph, near: list[Glyph]) -> bool:
    """Whether ``g`` is full size among the glyphs around it (a script or a limit next to a larger glyph is not)."""
    if g.node:
        return True
    if g.extension or g.accent:
        return False
    biggest = max((n.size for n in near), default=g.size)
    return g.size >= 0.85 * biggest


def _near(g: Glyph, n: Glyph) -> bool:
    if n.extension:  # a big operator's limits sit well above and below it
        return abs(n.cy - g.cy) < 2.2 * n.size and n.x0 - 3 < g.x1 and g.x0 < n.x1 + 3
    return abs(n.cy - g.cy) < 1.3 * max(n.size, g.size) and n.x0 < g.x1 + 24 and n.x1 > g.x0 - 24


def _anchors(glyphs: list[Glyph]) -> list[Glyph]:
    """The full-size glyphs (see ``_anchor``), found through a grid of 8 pt rows × 24 pt columns."""
    grid: dict[tuple[int, int], list[Glyph]] = defaultdict(list)  # 8 pt rows × 24 pt columns
    for g in glyphs:
        grid[int(g.cy // 8), int(g.cx // 24)].append(g)

    def near(g: Glyph) -> list[Glyph]:
        k, c = int(g.cy // 8), int(g.cx // 24)
        return [n for j in range(k - 4, k + 5) for i in range(c - 2, c + 3) for n in grid.get((j, i), ())
                if n is not g and _near(g, n)]

    cell_max = {key: max(n.size for n in cell) for key, cell in grid.items()}
    around: dict[tuple[int, int], float] = {}

    def biggest_around(g: Glyph) -> float:
        """The largest size in the cells near ``g``: a cheap upper bound, exact checks only below it."""
        key = (int(g.cy // 8), int(g.cx // 24))
        if key not in around:
            around[key] = max(cell_max.get((j, i), 0.0) for j in range(key[0] - 4, key[0] + 5)
                              for i in range(key[1] - 2, key[1] + 3))
        return around[key]

    return [g for g in glyphs
            if g.node or (not g.extension and not g.accent and g.size >= 0.85 * biggest_around(g))
            or _anchor(g, near(g))]


def build_lines(glyphs: list[Glyph]) -> list[Line]:
    """Group glyphs into lines (top to bottom; glyphs of a line sorted left to right)."""
    if not glyphs:
        return []
    anchors = _anchors(glyphs)
    anchor_ids = {id(g) for g in anchors}
    lines = _cluster(anchors)
    loose = _assign([g for g in glyphs if id(g) not in anchor_ids], lines)
    lines.extend(_cluster(loose))
    for line in lines:
        line.glyphs.sort(key=lambda g: (g.x0, g.top))
        _place_accents(line)
    lines.sort(key=lambda ln: (ln.base, ln.x0))
    return lines


def _assign(others: list[Glyph], lines: list[Line]) -> list[Glyph]:
    """Put each smaller glyph into the line whose band it sits in (or next to); returns those that fit none."""
    loose: list[Glyph] = []
    bands = [[min(a.top for a in ln.glyphs), max(a.bottom for a in ln.glyphs), ln.x0, ln.x1] for ln in lines]
    # big operators and delimiters first: the limits under a display sum then find the line the sum widened
    for g in sorted(others, key=lambda g: not g.extension):
        best, dist = -1, 0.0
        for k, (line, (top, bottom, x0, x1)) in enumerate(zip(lines, bands, strict=True)):
            if not x0 - 3 * line.size <= g.x0 <= x1 + 3 * line.size:
                continue
            d = max(top - g.cy, g.cy - bottom, 0.0) + abs(g.cy - (top + bottom) / 2) * 0.01
            if d <= (1.5 if g.extension else 1.0) * line.size and (best < 0 or d < dist):
                best, dist = k, d
        if best < 0:
            loose.append(g)
        else:
            lines[best].glyphs.append(g)
            if g.extension:
                band = bands[best]
                band[0], band[1] = min(band[0], g.top), max(band[1], g.bottom)
    return loose


def _place_accents(line: Line) -> None:
    """An accent over a math glyph is math (``\\hat{g}``); over a letter of text it becomes part of that letter."""
    for a in [g for g in line.glyphs if g.accent]:
        under = [g for g in line.glyphs if not g.accent and g.x0 - 1 <= a.cx <= g.x1 + 1 and g.top >= a.top - 0.5]
        if not under:
            continue
        base = min(under, key=lambda g: abs(g.cx - a.cx))
        if base.math:
            a.math = True
        elif a.text in COMBINING and base.text.isalpha():
            base.text = unicodedata.normalize("NFC", base.text + COMBINING[a.text])
            line.glyphs.remove(a)


def _cluster(glyphs: list[Glyph]) -> list[Line]:
    """Glyphs with (nearly) the same baseline form one line; a column gutter splits nothing here (see layout)."""
    lines: list[Line] = []
    for g in sorted(glyphs, key=lambda g: g.base):
        if lines and abs(g.base - lines[-1].base) <= max(1.2, 0.25 * g.size):
            lines[-1].glyphs.append(g)
        else:
            lines.append(Line([g], g.base, g.size))
    for line in lines:
        line.size = statistics.median(g.size for g in line.glyphs)
    return lines
