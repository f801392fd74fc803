"""The layout of a PDF page as Markdown blocks: headings, paragraphs, lists, display formulas, tables and figures,
in reading order (the columns and their order come from ``_pdfcolumns``).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._pdfcolumns import reading_order, split_columns
from ._pdfformula import Piece, formula_latex, space_before, split_line
from ._pdfglyphs import Glyph, Line, Rule
from ._pdfmath import CID, FUNCTION_NAMES

__all__ = ["Block", "Box", "PageLayout", "layout_page", "inline_markdown"]

Box = tuple[float, float, float, float]  # x0, top, x1, bottom
Crop = Callable[[Box, str], "str | None"]

_TAG = re.compile(r"^\((\d+(?:\.\d+)*[a-z]?)\)$")
_ENUM = re.compile(r"^(?:\d{1,2}[.)]|\([a-z0-9]{1,3}\)|[a-z][.)])$")
_BOLD = re.compile(r"Bold|CMBX|CMB\d|-Bd|Semibold|Heavy|Black|\.B$|LMRomanDemi", re.IGNORECASE)
_MD_ESCAPE = re.compile(r"([\\`*_$<\[\]|])")


@dataclass
class Block:
    kind: str  # heading | paragraph | list | display | table | figure
    top: float
    lines: list[Line] = field(default_factory=list)
    level: int = 0
    marker: str = ""
    marker_len: int = 0  # glyphs of the list marker at the start of the first line
    rows: list[list[list[Glyph]]] = field(default_factory=list)  # table cells
    box: Box = (0.0, 0.0, 0.0, 0.0)


@dataclass
class PageLayout:
    blocks: list[Block]
    formulas: int = 0  # inline + display formulas emitted on the page


def _is_bold(line: Line) -> bool:
    letters = [g for g in line.glyphs if g.text.isalpha() and not g.math]
    return bool(letters) and sum(1 for g in letters if _BOLD.search(g.font)) >= 0.8 * len(letters)


def _text(glyphs: Sequence[Glyph]) -> str:
    out = ""
    for i, g in enumerate(glyphs):
        if i and space_before(glyphs[i - 1], g):
            out += " "
        out += "" if CID.match(g.text) else g.text  # a glyph without a character says nothing to a reader
    return out


def _math_share(line: Line) -> tuple[float, int]:
    pieces = split_line(line.glyphs, line.base, line.size)
    total = len(line.glyphs)
    math = sum(len(p.glyphs) for p in pieces if p.math)
    fonts = sum(1 for g in line.glyphs if g.math)
    symbols = sum(1 for g in line.glyphs if not g.math and not g.text.isalpha())
    names = sum(len(w) for w in re.findall(r"[A-Za-z]+", _text([g for g in line.glyphs if not g.math]))
                if w in FUNCTION_NAMES)
    return (math + symbols + names) / max(total, 1), fonts


def _prose_words(line: Line) -> int:
    words = re.findall(r"[A-Za-z]{3,}", _text([g for g in line.glyphs if not g.math]))
    return sum(1 for w in words if w not in FUNCTION_NAMES)


def layout_page(lines: Sequence[Line], rules: Sequence[Rule], width: float, height: float, body: float,
                heading_sizes: Sequence[float], figures: Sequence[Box]) -> list[Block]:
    """Blocks of one page in reading order."""
    lines = _drop_furniture(list(lines))
    lines = [ln for ln in lines if not any(_inside(g, f) for f in figures for g in ln.glyphs[:1])]
    lines, gutter = split_columns(lines, width)
    tables = _tables(lines, rules, body)
    in_table = {id(ln) for t in tables for ln in t.lines}
    blocks: list[Block] = list(tables)
    blocks += [Block("figure", f[1], box=f) for f in figures]
    for column in reading_order([ln for ln in lines if id(ln) not in in_table], gutter):
        blocks_col = _column_blocks(column, body, heading_sizes)
        blocks.extend(blocks_col)
    order = {id(b): i for i, b in enumerate(blocks)}
    # tables and figures are placed by their top among the blocks of the column they sit in
    flow = [b for b in blocks if b.kind not in ("table", "figure")]
    floats = sorted((b for b in blocks if b.kind in ("table", "figure")), key=lambda b: b.top)
    out: list[Block] = []
    for b in flow:
        while floats and floats[0].top <= b.top and _same_column(floats[0], b):
            out.append(floats.pop(0))
        out.append(b)
    out.extend(floats)
    del order
    return out


def _same_column(f: Block, b: Block) -> bool:
    if not b.lines:
        return True
    return f.box[0] <= b.lines[0].x1 and f.box[2] >= b.lines[0].x0


def _inside(g: Glyph, box: Box) -> bool:
    return box[0] - 1 <= g.cx <= box[2] + 1 and box[1] - 1 <= g.cy <= box[3] + 1


def _drop_furniture(lines: list[Line]) -> list[Line]:
    """Without the page number: a short line of digits that is the first or the last line of the page."""
    if len(lines) < 2:
        return lines
    first = min(ln.top for ln in lines)
    last = max(ln.top for ln in lines)

    def number(ln: Line) -> bool:
        text = _text(ln.glyphs).strip()
        return len(text) <= 4 and text.isdigit() and (ln.top >= last - 0.5 or ln.top <= first + 0.5)

    return [ln for ln in lines if not number(ln)]


def _column_blocks(lines: list[Line], body: float, heading_sizes: Sequence[float]) -> list[Block]:
    if not lines:
        return []
    x0 = statistics.median(sorted(ln.x0 for ln in lines)[: max(1, len(lines) // 2)])
    x1 = max(ln.x1 for ln in lines)
    width = max(x1 - x0, 1.0)
    # display candidates: set apart from both margins and mostly formula
    display = []
    for ln in lines:
        share, fonts = _math_share(ln)
        centered = ln.x0 > x0 + 0.06 * width and (ln.x1 < x1 - 0.06 * width or _tag_of(ln) is not None)
        display.append(centered and fonts > 0 and share >= 0.4)
    # lines inside a display's band (numerators, denominators, matrix rows) join it
    for i, ln in enumerate(lines):
        if display[i] or _prose_words(ln) > 0:
            continue
        centered = ln.x0 > x0 + 0.06 * width
        near = [j for j in (i - 1, i + 1) if 0 <= j < len(lines) and display[j]]
        if centered and any(abs(lines[j].base - ln.base) < 1.8 * ln.size for j in near):
            display[i] = True
    blocks: list[Block] = []
    prev: Line | None = None
    for i, ln in enumerate(lines):
        level = _heading_level(ln, body, heading_sizes)
        if display[i]:
            if blocks and blocks[-1].kind == "display" and prev is not None and ln.top - prev.bottom < 1.2 * ln.size:
                blocks[-1].lines.append(ln)
            else:
                blocks.append(Block("display", ln.top, [ln]))
        elif level:
            if blocks and blocks[-1].kind == "heading" and blocks[-1].level == level and prev is not None \
                    and ln.top - prev.bottom < 0.6 * ln.size:
                blocks[-1].lines.append(ln)
            else:
                blocks.append(Block("heading", ln.top, [ln], level=level))
        else:
            marker, marker_len = _list_marker(ln)
            starts = (
                not blocks or blocks[-1].kind not in ("paragraph", "list") or prev is None
                or ln.top - prev.bottom > 0.7 * ln.size  # a vertical gap
                or ln.x0 > x0 + 0.02 * width + 4 and blocks[-1].kind == "paragraph"  # an indented first line
                or prev.x1 < x1 - 0.12 * width and blocks[-1].kind == "paragraph"  # the last line ended short
                or abs(ln.size - prev.size) > 0.8
                or marker
            )
            if starts:
                blocks.append(Block("list" if marker else "paragraph", ln.top, [ln], marker=marker,
                                    marker_len=marker_len))
            else:
                blocks[-1].lines.append(ln)
        prev = ln
    return blocks


def _heading_level(line: Line, body: float, heading_sizes: Sequence[float]) -> int:
    text = _text(line.glyphs)
    if len(text) > 160 or not re.search(r"[A-Za-z]{2}", text):
        return 0
    size = heading_size(line, body)
    if size is None:
        return 0
    return min(len([s for s in heading_sizes if s > size + 0.3]) + 1, 6)


def heading_size(line: Line, body: float) -> float | None:
    size = max(g.size for g in line.glyphs)
    text = _text(line.glyphs)
    numbered = re.match(r"^(\d+(\.\d+)*|[A-Z](\.\d+)*)\s", text) is not None
    if len(text) <= 160 and re.search(r"[A-Za-z]{2}", text) and (
        size >= 1.4 * body or (_is_bold(line) and (size >= 1.1 * body or numbered))
    ):
        return round(size, 1)
    return None


def _list_marker(line: Line) -> tuple[str, int]:
    """(``-`` for a bullet item, ``3.`` / ``(b)`` for a numbered one, else empty; the marker's glyph count)."""
    g = line.glyphs
    k = 1
    while k < len(g) and not space_before(g[k - 1], g[k]):
        k += 1
    if k >= len(g):
        return "", 0
    first = "".join(x.text for x in g[:k])
    if first in ("•", "∙", "◦", "▪", "‣", "–", "-", "*", "·") or (k == 1 and CID.match(first) is not None):
        return "-", k  # an unmapped glyph alone before the text is a bullet drawn from a symbol font
    return (first, k) if _ENUM.match(first) else ("", 0)


def _tag_of(line: Line) -> str | None:
    """An equation number at the right end of a display line, or alone on its line: ``(3)``."""
    gl = line.glyphs
    k = len(gl) - 1
    while k >= 0 and gl[k].text != "(":
        k -= 1
        if len(gl) - k > 8:
            return None
    if k < 0 or gl[k].math:
        return None
    text = "".join(g.text for g in gl[k:])
    if _TAG.match(text) and (k == 0 or gl[k].x0 - max(g.x1 for g in gl[:k]) > line.size):
        return text[1:-1]
    return None


def _tables(lines: Sequence[Line], rules: Sequence[Rule], body: float) -> list[Block]:
    """Ruled tables: two or more rules of the same extent with text lines between them."""
    groups: dict[tuple[int, int], list[Rule]] = {}
    for r in rules:
        if r.x1 - r.x0 >= 40:
            groups.setdefault((round(r.x0 / 3), round(r.x1 / 3)), []).append(r)
    out: list[Block] = []
    used: set[int] = set()
    for group in groups.values():
        ys = sorted(r.y for r in group)
        if len(ys) < 2 or ys[-1] - ys[0] < 1.5 * body:
            continue
        x0, x1 = group[0].x0, group[0].x1
        inside = [ln for ln in lines if ys[0] - 2 < ln.base < ys[-1] + 2 and ln.x0 >= x0 - 4 and ln.x1 <= x1 + 4
                  and id(ln) not in used]
        # the header row may sit above the first rule when the table has no top rule
        if len(inside) < 2:
            continue
        rows = _table_rows(inside)
        if not rows or max(len(r) for r in rows) < 2:
            continue
        used.update(id(ln) for ln in inside)
        out.append(Block("table", ys[0], inside, rows=rows, box=(x0, ys[0], x1, ys[-1])))
    return out


def _table_rows(lines: Sequence[Line]) -> list[list[list[Glyph]]]:
    """Cells by the vertical strips that no glyph of any row crosses."""
    x0 = int(min(ln.x0 for ln in lines))
    x1 = int(max(ln.x1 for ln in lines)) + 1
    cover = [False] * (x1 - x0 + 2)
    for ln in lines:
        for g in ln.glyphs:
            for x in range(int(g.x0) - x0, int(g.x1) - x0 + 1):
                if 0 <= x < len(cover):
                    cover[x] = True
    cuts: list[float] = []
    run = 0
    for k, c in enumerate(cover):
        if not c:
            run += 1
        else:
            if run >= 6:
                cuts.append(x0 + k - run / 2)
            run = 0
    rows = []
    for ln in lines:
        cells: list[list[Glyph]] = [[] for _ in range(len(cuts) + 1)]
        for g in ln.glyphs:
            cells[sum(1 for c in cuts if g.cx > c)].append(g)
        rows.append(cells)
    return rows


# --- Markdown -------------------------------------------------------------------------------------------------------


def escape_prose(text: str) -> str:
    return _MD_ESCAPE.sub(r"\\\1", text)


def _inline_math(glyphs: Sequence[Glyph], rules: Sequence[Rule], base: float, size: float, table: bool) -> str:
    latex = formula_latex(glyphs, rules, ref_base=base, ref_size=size)
    text = latex[0] if latex else ""
    text = text.replace("$", r"\$").strip()
    if table:
        text = text.replace(r"\|", r"\Vert ").replace("|", r"\vert ").strip()
    while text.endswith("\\") and not text.endswith("\\\\"):
        text = text[:-1].rstrip()
    return f"${text}$" if text else ""


def _footnote_mark(glyphs: Sequence[Glyph], line: Line) -> str:
    """A raised number in a text font (not a formula's exponent): a footnote mark."""
    if not all(g.text.isdigit() and not g.math and g.size < 0.85 * line.size and g.base < line.base - 0.1 * line.size
               for g in glyphs):
        return ""
    return "".join(g.text for g in glyphs)


def _closes_formula(text: str) -> bool:
    """Whether the ``$`` at the end of ``text`` closes an inline formula (an even count of unescaped ``$``)."""
    return len(re.findall(r"(?<!\\)\$", text)) % 2 == 0


def inline_markdown(lines: Sequence[Line], rules: Sequence[Rule], counter: list[int], table: bool = False) -> str:
    """Prose with inline formulas as ``$…$`` spans (lines joined, hyphenation at line ends undone)."""
    out = ""
    for ln in lines:
        pieces: list[Piece] = split_line(ln.glyphs, ln.base, ln.size)
        text = ""
        prev_glyph: Glyph | None = None
        for p in pieces:
            sep = " " if prev_glyph is not None and space_before(prev_glyph, p.glyphs[0]) else ""
            mark = _footnote_mark(p.glyphs, ln)
            if mark:
                text += f"[^{mark}]"
            elif p.math:
                span = _inline_math(p.glyphs, rules, ln.base, ln.size, table)
                if span:
                    counter[0] += 1
                    text += sep + span
            else:
                prose = escape_prose(_text(p.glyphs))
                if text.endswith("$") and prose[:1].isdigit():
                    sep = " "  # protect would not close a formula before a digit
                text += sep + prose
            prev_glyph = p.glyphs[-1]
        if not out:
            out = text
        elif out.endswith("$") and text.startswith("$") and not text.startswith("$$") and _closes_formula(out):
            out = out[:-1] + " " + text[1:]  # a formula broken across lines is one formula
            counter[0] -= 1
        elif out.endswith("-") and not out.endswith("\\-") and text[:1].islower():
            out = out[:-1] + text
        else:
            out += " " + text
    return out.strip()


def render_block(block: Block, rules: Sequence[Rule], counter: list[int], crop: Crop | None, index: int) -> str:
    if block.kind == "heading":
        return "#" * block.level + " " + inline_markdown(block.lines, rules, counter)
    if block.kind == "paragraph":
        text = inline_markdown(block.lines, rules, counter)
        # a paragraph that opens with a footnote mark is the footnote itself
        return re.sub(r"^\[\^(\d+)\]\s*", r"[^\1]: ", text)
    if block.kind == "list":
        first = block.lines[0]
        body = [Line(first.glyphs[block.marker_len :], first.base, first.size), *block.lines[1:]]
        text = inline_markdown([ln for ln in body if ln.glyphs], rules, counter)
        number = re.sub(r"\D", "", block.marker)
        # a numbered item keeps its number; "(a)" items become bullets
        return (f"{number}. " if number and block.marker[0].isdigit() else "- ") + text
    if block.kind == "display":
        return _display(block, rules, counter, crop, index)
    if block.kind == "table":
        return _table(block, rules, counter)
    if block.kind == "figure" and crop is not None:
        path = crop(block.box, f"figure-{index}")
        return f"![]({path})" if path else ""
    return ""


def _display(block: Block, rules: Sequence[Rule], counter: list[int], crop: Crop | None, index: int) -> str:
    glyphs: list[Glyph] = []
    tags: list[str] = []
    for ln in block.lines:
        tag = _tag_of(ln)
        if tag is not None:
            k = len(ln.glyphs) - (len(tag) + 2)
            glyphs.extend(ln.glyphs[:k])
            tags.append(tag)
        else:
            glyphs.extend(ln.glyphs)
    rows = formula_latex(glyphs, rules, rows=True)
    if not rows:
        return ""
    counter[0] += 1
    if len(rows) == 1:
        latex = rows[0] + (f" \\tag{{{tags[0]}}}" if len(tags) == 1 else "")
    else:
        env = "aligned" if all("&" in r for r in rows) else "gathered"
        latex = f"\\begin{{{env}}}\n" + " \\\\\n".join(rows) + f"\n\\end{{{env}}}"
        if tags:
            latex += " \\tag{" + ", ".join(tags) + "}"
    latex = latex.replace("$", r"\$")
    text = f"$$\n{latex}\n$$"
    if crop is not None:
        box = (min(g.x0 for g in glyphs), min(g.top for g in glyphs), max(g.x1 for g in glyphs),
               max(g.bottom for g in glyphs))
        path = crop(box, f"formula-{index}")
        if path:
            text += f"\n\n![]({path})"
    return text


def _table(block: Block, rules: Sequence[Rule], counter: list[int]) -> str:
    rows: list[list[str]] = []
    for cells in block.rows:
        row = []
        for cell in cells:
            if not cell:
                row.append("")
                continue
            line = Line(sorted(cell, key=lambda g: g.x0), statistics.median(g.base for g in cell),
                        max(g.size for g in cell))
            row.append(inline_markdown([line], rules, counter, table=True))
        rows.append(row)
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)
