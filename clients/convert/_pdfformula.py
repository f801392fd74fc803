"""Formulas in a PDF text line: where they are (runs of math glyphs joined across spaces and operators) and their
LaTeX (sub/superscripts from glyph sizes and baselines, fractions and radicals from the rules drawn with them).

The LaTeX is a reconstruction for readers; what matters for translation is that each formula becomes one span that
``protect`` masks, so its bytes never reach the model and come back exactly as extracted.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ._pdfglyphs import Glyph, Rule, build_lines
from ._pdfmath import ACCENTS, CID, FUNCTION_NAMES, is_italic_font, is_operator, omx_piece

__all__ = ["Piece", "formula_latex", "split_line", "space_before"]

_PROSE_PUNCT = ".,;:!?"
_RELATIONS = frozenset("=≤≥<>≈∼≡≃≅∝≠")
_LEADERS = frozenset(".,·:;")
_BACK_OPS = frozenset("=+-−<>≤≥×·([{⟨∼≈")
_BULLETS = frozenset("•∙◦–—-*▪‣")
_KEPT_PIECES = frozenset([48, 49, 50, 51, 56, 57])  # tops of tall delimiters stand for the whole delimiter


@dataclass
class Piece:
    """A stretch of a line: prose (``math=False``) or one inline formula."""

    glyphs: list[Glyph]
    math: bool


def space_before(prev: Glyph, g: Glyph) -> bool:
    """A word space between two glyphs of a line (TeX's interword space is about a third of the font size)."""
    return g.x0 - prev.x1 > 0.2 * max(min(prev.size, g.size), 1.0)


def _script(g: Glyph, line_base: float, line_size: float) -> bool:
    return not g.node and not g.extension and g.size < 0.8 * line_size and abs(g.base - line_base) > 0.1 * line_size


def _cls(g: Glyph, i: int, glyphs: Sequence[Glyph], line_base: float, line_size: float) -> str:
    """M (math), S (a symbol or digit in a text font), L (a letter of prose)."""
    if i == 0 and g.text in _BULLETS and len(glyphs) > 1 and space_before(g, glyphs[1]):
        return "L"  # a list bullet, not an operator
    if g.math or _script(g, line_base, line_size):
        return "M"
    return "L" if any(c.isalpha() for c in g.text) or CID.match(g.text) else "S"


def split_line(glyphs: Sequence[Glyph], line_base: float, line_size: float) -> list[Piece]:
    """Cut a line (glyphs left to right) into prose and inline formulas."""
    n = len(glyphs)
    if n == 0:
        return []
    cls = [_cls(g, i, glyphs, line_base, line_size) for i, g in enumerate(glyphs)]
    spaced = [i > 0 and space_before(glyphs[i - 1], glyphs[i]) for i in range(n)]
    _typography(glyphs, cls, spaced)
    bounds = _bounds(cls, spaced)
    _italic_letters(glyphs, bounds)
    in_math = [False] * n
    for a, b in _runs(glyphs, bounds, spaced):
        for m in range(a, b):
            in_math[m] = True
    pieces: list[Piece] = []
    for i, g in enumerate(glyphs):
        if pieces and pieces[-1].math == in_math[i]:
            pieces[-1].glyphs.append(g)
        else:
            pieces.append(Piece([g], in_math[i]))
    return pieces


def _typography(glyphs: Sequence[Glyph], cls: list[str], spaced: list[bool]) -> None:
    """A raised or lowered letter of a text font inside a word is typography (the A of the LaTeX logo)."""
    n = len(glyphs)
    for i, g in enumerate(glyphs):
        if cls[i] == "M" and not g.math and g.text.isalpha() and (
            (i > 0 and not spaced[i] and cls[i - 1] == "L") or (i + 1 < n and not spaced[i + 1] and cls[i + 1] == "L")
        ):
            cls[i] = "L"


def _bounds(cls: list[str], spaced: list[bool]) -> list[tuple[int, int, str]]:
    """Pieces of a line: maximal runs of one kind (L, or M/S together) inside a word."""
    bounds: list[tuple[int, int, str]] = []
    i, n = 0, len(cls)
    while i < n:
        j = i + 1
        letter = cls[i] == "L"
        while j < n and not spaced[j] and (cls[j] == "L") == letter:
            j += 1
        bounds.append((i, j, "L" if letter else ("M" if "M" in cls[i:j] else "S")))
        i = j
    return bounds


def _runs(glyphs: Sequence[Glyph], bounds: list[tuple[int, int, str]], spaced: list[bool]) -> list[tuple[int, int]]:
    """Glyph ranges of the formulas: math pieces grown over the symbols and operators that join them."""
    n = len(glyphs)
    out: list[tuple[int, int]] = []
    k = 0
    while k < len(bounds):
        if bounds[k][2] != "M":
            k += 1
            continue
        first = last = k
        while first > 0 and bounds[first - 1][2] == "S" and _joins_back(glyphs, bounds, first - 1, spaced):
            first -= 1
        while last + 1 < len(bounds) and bounds[last + 1][2] in ("M", "S") and (
            bounds[last + 1][2] == "M" or _joins_forward(glyphs, bounds, last, last + 1, spaced)
        ):
            last += 1
        a, b = bounds[first][0], bounds[last][1]
        k = last + 1
        marks = [g.text for g in glyphs[a:b] if g.math]
        if len(marks) >= 3 and all(t in _LEADERS for t in marks):
            continue  # dot leaders of a table of contents, set in a math font: not a formula
        out.append(_trim(glyphs, a, b, touching_letter=(first > 0 and not spaced[a]),
                         before_letter=(b < n and not spaced[b])))
    return out


def _italic_letters(glyphs: Sequence[Glyph], bounds: list[tuple[int, int, str]]) -> None:
    """A single italic letter in a text font beside an operator or a formula is a variable (PDFs from word
    processors set math in the text face)."""
    for k, (a, b, kind) in enumerate(bounds):
        if kind != "L" or b - a != 1 or not is_italic_font(glyphs[a].font) or not glyphs[a].text.isalpha():
            continue
        near = [bounds[j] for j in (k - 1, k + 1) if 0 <= j < len(bounds)]
        if any(kd == "M" or (kd == "S" and any(is_operator(glyphs[x].text) for x in range(s, e))) for s, e, kd in near):
            bounds[k] = (a, b, "M")


def _joins_back(glyphs: Sequence[Glyph], bounds: list[tuple[int, int, str]], k: int, spaced: list[bool]) -> bool:
    a, b, _ = bounds[k]
    nxt = bounds[k + 1][0]
    if not spaced[nxt]:
        return True
    return glyphs[b - 1].text in _BACK_OPS or glyphs[nxt].text in _BACK_OPS - set("([{⟨")


def _joins_forward(glyphs: Sequence[Glyph], bounds: list[tuple[int, int, str]], prev: int, k: int,
                   spaced: list[bool]) -> bool:
    a, _, _ = bounds[k]
    if not spaced[a]:
        return True
    last = glyphs[bounds[prev][1] - 1].text
    return (is_operator(last) and last not in _PROSE_PUNCT[1:2] + ".") or (
        is_operator(glyphs[a].text) and glyphs[a].text not in ",.:;"
    ) or (last == "," and glyphs[bounds[prev][1] - 1].math)


def _trim(glyphs: Sequence[Glyph], a: int, b: int, touching_letter: bool, before_letter: bool) -> tuple[int, int]:
    """Drop sentence punctuation and unbalanced brackets at the ends of a formula run."""
    while b > a:
        g = glyphs[b - 1]
        text = "".join(x.text for x in glyphs[a:b])
        if not g.math and (g.text in _PROSE_PUNCT or (before_letter and g.text in "-'’")):
            b -= 1
        elif not g.math and g.text in ")]" and _opened(text) < _closed(text):
            b -= 1
        else:
            break
    while a < b:
        g = glyphs[a]
        text = "".join(x.text for x in glyphs[a:b])
        if not g.math and ((g.text in "([" and _opened(text) > _closed(text)) or (touching_letter and g.text in "-'’")):
            a += 1
        else:
            break
    return a, b


def _opened(text: str) -> int:
    return text.count("(") + text.count("[")


def _closed(text: str) -> int:
    return text.count(")") + text.count("]")


# --- LaTeX -------------------------------------------------------------------------------------------------------

_WORD_GAP = 0.12


def formula_latex(glyphs: Sequence[Glyph], rules: Sequence[Rule], *, ref_base: float | None = None,
                  ref_size: float | None = None, rows: bool = False) -> list[str]:
    """LaTeX of a formula's glyphs; with ``rows`` (display math) one string per visual row, else one string."""
    items = _accents([g for g in glyphs if not (g.extension and _dropped_piece(g))])
    if not items:
        return []
    size = ref_size or max(g.size for g in items if not g.extension) if any(not g.extension for g in items) else 10.0
    items = _collapse(items, rules, size)
    if rows:
        items = _matrices(items, size)
    if not rows:
        base = ref_base if ref_base is not None else _main_base(items, size)
        return [_render(items, base, size)]
    lines = [ln for ln in build_lines(items) if ln.glyphs]
    marks = [next((g.x0 for g in ln.glyphs if g.text in _RELATIONS and not _script(g, ln.base, ln.size)), None)
             for ln in lines]
    xs = [x for x in marks if x is not None]
    if len(lines) > 1 and len(xs) == len(lines) and max(xs) - min(xs) < 1.5:
        # the relations line up: an aligned block, "&" before each row's first relation
        out = [_render([g for g in ln.glyphs if g.x0 < x - 0.1], ln.base, max(ln.size, 1.0)) + " &"
               + _render([g for g in ln.glyphs if g.x0 >= x - 0.1], ln.base, max(ln.size, 1.0))
               for ln, x in zip(lines, xs, strict=True)]
        return [r.strip() for r in out]
    out = [_render(ln.glyphs, ln.base, max(ln.size, 1.0)) for ln in lines]
    return [r for r in out if r]


def _accents(items: list[Glyph]) -> list[Glyph]:
    """``ˆ`` over ``g`` → one glyph ``\\hat{g}`` (copies: the page's glyphs are not changed)."""
    accents = [a for a in items if a.accent]
    if not accents:
        return items
    out = [g for g in items if not g.accent]
    for a in accents:
        under = [k for k, g in enumerate(out) if g.x0 - 1 <= a.cx <= g.x1 + 1 and g.top >= a.top - 0.5]
        if not under:
            out.append(a)
            continue
        k = min(under, key=lambda k: abs(out[k].cx - a.cx))
        command = ACCENTS.get(a.text, r"\hat")
        out[k] = replace(out[k], latex=f"{command}{{{out[k].latex or out[k].text}}}")
    return out


_MATRIX_ENVS = {"(": ("pmatrix", ")"), "[": ("bmatrix", "]"), r"\{": ("Bmatrix", r"\}"), "|": ("vmatrix", "|"),
                r"\|": ("Vmatrix", r"\|")}


def _matrices(items: list[Glyph], size: float) -> list[Glyph]:
    """Rows of glyphs between a pair of big delimiters become ``\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}``;
    the cells are cut at the vertical strips that no row crosses."""
    for opener in sorted((g for g in items if g.extension and g.latex in _MATRIX_ENVS), key=lambda g: g.x0):
        env, close = _MATRIX_ENVS[opener.latex]
        closer = next((g for g in sorted(items, key=lambda g: g.x0) if g.extension and g.latex == close
                       and g.x0 > opener.x1 and abs(g.top - opener.top) < 0.5 * size), None)
        if closer is None or not any(g is opener for g in items):
            continue
        top, bottom = opener.top - 1.5 * size, opener.bottom + 1.5 * size
        body = [g for g in items if opener.x1 - 0.5 <= g.x0 and g.x1 <= closer.x0 + 0.5 and top <= g.cy <= bottom]
        rows = build_lines(body)
        if len(rows) < 2:
            continue
        cuts = _column_cuts(body, size)
        lines = []
        for row in rows:
            cells: list[list[Glyph]] = [[] for _ in range(len(cuts) + 1)]
            for g in row.glyphs:
                cells[sum(1 for c in cuts if g.cx > c)].append(g)
            lines.append(" & ".join(_render(c, row.base, row.size) if c else "" for c in cells))
        latex = f"\\begin{{{env}}} " + r" \\ ".join(lines) + f" \\end{{{env}}}"
        used = {id(g) for g in body} | {id(opener), id(closer)}
        node = Glyph(latex, "", size, opener.x0, closer.x1, min(g.top for g in body), max(g.bottom for g in body),
                     (rows[0].base + rows[-1].base) / 2, math=True, latex=latex, node=True)
        items = [g for g in items if id(g) not in used] + [node]
    return items


def _column_cuts(glyphs: Sequence[Glyph], size: float) -> list[float]:
    """x positions of the empty vertical strips (at least a font size wide) between the glyphs."""
    spans = sorted((g.x0, g.x1) for g in glyphs)
    cuts: list[float] = []
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= 0.9 * size:
            cuts.append((x0 + reach) / 2)
        reach = max(reach, x1)
    return cuts


def _dropped_piece(g: Glyph) -> bool:
    m = CID.match(g.text)
    return m is not None and omx_piece(int(m.group(1))) and int(m.group(1)) not in _KEPT_PIECES


def _main_base(items: Sequence[Glyph], size: float) -> float:
    full = [g.base for g in items if g.size >= 0.85 * size and not g.extension] or [g.base for g in items]
    return statistics.median(full)


def _collapse(items: list[Glyph], rules: Sequence[Rule], size: float) -> list[Glyph]:
    """Radicals (√ and its overbar) and fractions (a bar with glyphs above and below) become single nodes."""
    if not rules:
        return items
    x0 = min(g.x0 for g in items) - 1
    x1 = max(g.x1 for g in items) + 1
    top = min(g.top for g in items) - size
    bottom = max(g.bottom for g in items) + size
    inside = [r for r in rules if r.x0 >= x0 and r.x1 <= x1 and top <= r.y <= bottom]
    for r in sorted(inside, key=lambda r: r.x1 - r.x0):  # inner fractions first
        radical = next((g for g in items if g.latex == r"\surd" and abs(g.x1 - r.x0) < 1.6
                        and g.top - 1 <= r.y <= g.bottom + 1), None)
        if radical is not None:
            inner = [g for g in items if g is not radical and g.x0 >= r.x0 - 0.6 and g.x1 <= r.x1 + 1.0
                     and r.y < g.base <= r.y + 1.6 * size]
            if inner:
                body = _render(inner, _main_base(inner, max(g.size for g in inner)), max(g.size for g in inner))
                node = Glyph(rf"\sqrt{{{body}}}", "", max(g.size for g in inner), radical.x0, r.x1, r.y,
                             max(g.bottom for g in inner), _main_base(inner, max(g.size for g in inner)),
                             math=True, latex=rf"\sqrt{{{body}}}", node=True)
                items = [g for g in items if g is not radical and not any(g is i for i in inner)] + [node]
            continue
        over = [g for g in items if r.x0 - 0.6 <= g.cx <= r.x1 + 0.6 and not g.extension]
        num = [g for g in over if r.y - 1.6 * size <= g.base < r.y]
        den = [g for g in over if r.y < g.base - 0.5 <= r.y + 1.9 * size]
        if not num or not den:
            continue
        parts = []
        for group in (num, den):
            gsize = max(g.size for g in group)
            parts.append(_render(group, _main_base(group, gsize), gsize))
        used = {id(g) for g in num + den}
        node = Glyph("", "", size, r.x0, r.x1, min(g.top for g in num), max(g.bottom for g in den), r.y + 0.25 * size,
                     math=True, latex=rf"\frac{{{parts[0]}}}{{{parts[1]}}}", node=True)
        items = [g for g in items if id(g) not in used] + [node]
    return items


def _is_letter(g: Glyph) -> bool:
    return not g.math and g.text.isascii() and g.text.isalpha()


def _scripts(group: Sequence[Glyph], base: float, size: float) -> str:
    """``_{…}^{…}`` of the script glyphs attached to a base: below the baseline a subscript, above a superscript."""
    text = ""
    for mark, part in (("_", [x for x in group if x.base >= base - 0.1 * size]),
                       ("^", [x for x in group if x.base < base - 0.1 * size])):
        if part:
            psize = max(x.size for x in part)
            body = _render(part, _main_base(part, psize), psize)
            text += f"{mark}{{{body}}}" if len(body) != 1 else f"{mark}{body}"
    return text


def _render(items: Sequence[Glyph], base: float, size: float) -> str:
    return _Row(items, base, size).latex()


class _Row:
    """One row of a formula, left to right: bases, their scripts, words of upright letters."""

    def __init__(self, items: Sequence[Glyph], base: float, size: float) -> None:
        self.items = sorted(items, key=lambda g: (g.x0, g.top))
        self.base, self.size = base, size
        self.tokens: list[tuple[str, float, float]] = []  # (latex, x0, x1)
        self.pending: list[Glyph] = []  # limits that start left of the word they belong to (\min_{k \le K})

    def script(self, g: Glyph) -> bool:
        return _script(g, self.base, self.size)

    def attach(self, group: Sequence[Glyph]) -> None:
        """Scripts of the token before them (or of an empty base)."""
        text = ("" if self.tokens else "{}") + _scripts(group, self.base, self.size)
        x1 = max(x.x1 for x in group)
        if self.tokens:
            latex, x0, _ = self.tokens[-1]
            self.tokens[-1] = (latex + text, x0, x1)
        else:
            self.tokens.append((text, group[0].x0, x1))

    def scripts_at(self, i: int) -> int:
        items, n = self.items, len(self.items)
        j = i
        while j < n and self.script(items[j]):
            j += 1
        group = items[i:j]
        if j < n and _is_letter(items[j]) and max(x.x1 for x in group) > items[j].x0 + 0.5:
            self.pending = group
        else:
            self.attach(group)
        return j

    def word_at(self, i: int) -> int:
        """A word of upright letters (``\\log``, ``\\mathrm{softmax}``) with its limits; ``i`` if it is one letter."""
        items, n = self.items, len(self.items)
        letters, limits, j = [items[i]], list(self.pending), i + 1
        while j < n:
            x = items[j]
            if self.script(x) and x.x0 < letters[-1].x1 - 0.5:
                limits.append(x)  # under or over the word: the limits of \min, \max, \lim
            elif _is_letter(x) and not self.script(x) and x.x0 - letters[-1].x1 < _WORD_GAP * self.size:
                letters.append(x)
            else:
                break
            j += 1
        word = "".join(x.text for x in letters)
        if len(word) < 2:
            return i
        latex = f"\\{word}" if word in FUNCTION_NAMES else rf"\mathrm{{{word}}}"
        self.tokens.append((latex + (_scripts(limits, self.base, self.size) if limits else ""), letters[0].x0,
                            letters[-1].x1))
        self.pending = []
        return j

    def latex(self) -> str:
        i, n = 0, len(self.items)
        while i < n:
            g = self.items[i]
            if self.script(g):
                i = self.scripts_at(i)
                continue
            if _is_letter(g) and (j := self.word_at(i)) > i:
                i = j
                continue
            if self.pending:  # not a word after all: they were scripts of what came before
                self.attach(self.pending)
                self.pending = []
            self.tokens.append((g.latex or g.text, g.x0, g.x1))
            i += 1
        return self.join()

    def join(self) -> str:
        out = ""
        prev_x1 = None
        for latex, x0, x1 in self.tokens:
            if out and (
                (prev_x1 is not None and x0 - prev_x1 > 0.18 * self.size)
                or (re.search(r"\\[A-Za-z]+$", out) and latex[:1].isalpha())
            ):
                out += " "
            out += latex
            prev_x1 = x1
        return out.strip()
