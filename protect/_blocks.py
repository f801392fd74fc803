"""Block structure: which parts of a Markdown(+LaTeX) document are prose, located by source offsets.

A line-based CommonMark-style scanner (containers: block quotes, list items, footnote definitions; leaf blocks:
paragraphs, headings, tables, fenced/indented code, display math, LaTeX environments, HTML blocks, front matter, link
reference definitions, thematic breaks). mistune's AST is not used because it carries no source offsets and
normalises text; every result here is a list of ``(start, end)`` ranges into the original string, so restoring is a
splice and untouched text comes back byte for byte.

Each translatable leaf becomes a :class:`RawSegment`: one content range per source line (container prefixes and the
line breaks between them stay outside), plus the separators that put those lines back together. The leaf blocks
that pass through untranslated are recognised in ``_passthrough.py``; lines and their content offsets are
``_lines.Line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._inline import _balanced, _link_text_end
from ._lines import Line, indent, is_blank, line_text, split_lines, strip_cols
from ._passthrough import (
    FENCE,
    HTML_RAW,
    HTML_START,
    HTML_TAG_LINE,
    fence_end,
    front_matter_end,
    html_block_end,
    indented_code_end,
    is_link_def,
    math_block_end,
)

__all__ = ["RawSegment", "scan_blocks"]


@dataclass
class RawSegment:
    """A translatable leaf: ``pieces`` are per-line source ranges; their text joined by ``\\n`` is the content."""

    pieces: list[tuple[int, int]]
    kind: str
    unit: tuple[int, int]  # whole source lines of the leaf block (for the bilingual form)
    cont: str  # line break + container prefix for lines a translation adds
    level: int = 0  # heading level (0 = not a heading)
    single_line: bool = False  # a line break would break the structure (heading, table cell)


_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)")
_THEMATIC = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r" {0,3}> ?")
_LIST = re.compile(r" {0,3}([-+*]|\d{1,9}[.)])(?=[ \t]|$)")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_FOOTNOTE_DEF = re.compile(r" {0,3}\[\^[^\]\s]+\]:[ \t]*")
_DELIM_ROW = re.compile(r" {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_ROLE_ONLY = re.compile(r"(?:\s*(?::[A-Za-z][\w.+-]*:`[^`]*`|\{[A-Za-z][\w.:+-]*\}`[^`]*`))*\s*")
_MAX_DEPTH = 16  # container nesting beyond this is passed through untouched
_MARKER = re.compile(r"[-+*]|\d{1,9}[.)]")


class _Scanner:
    def __init__(self, src: str) -> None:
        self.src = src
        self.out: list[RawSegment] = []
        self.nl = "\r\n" if "\r\n" in src else "\n"
        self.depth = 0

    def nested(self, lines: list[Line], kind: str, cont: str) -> None:
        """Scan a container's content; past ``_MAX_DEPTH`` levels it passes through untranslated (no recursion
        limit, no quadratic prefixes on adversarial input)."""
        if self.depth >= _MAX_DEPTH:
            return
        self.depth += 1
        try:
            self.blocks(lines, kind, cont)
        finally:
            self.depth -= 1

    # -- helpers ---------------------------------------------------------------------------------------------------
    def text(self, line: Line) -> str:
        return line_text(self.src, line)

    def blank(self, line: Line) -> bool:
        return is_blank(self.src, line)

    def interrupts(self, line: Line, in_list: bool) -> bool:
        """Whether ``line`` ends a running paragraph (CommonMark's interruption rules, plus display math)."""
        t = self.text(line)
        if indent(self.src, line)[0] >= 4:
            return False
        if FENCE.match(t) or _ATX.match(t) or _THEMATIC.match(t) or _QUOTE.match(t):
            return True
        if HTML_START.match(t) or HTML_RAW.match(t) or _FOOTNOTE_DEF.match(t):
            return True
        m = _LIST.match(t)
        if m is not None:
            rest = t[m.end() :].strip()
            if in_list or (rest and (not m.group(1)[0].isdigit() or m.group(1)[:-1] == "1")):
                return True
        return False

    # -- containers ------------------------------------------------------------------------------------------------
    def blocks(self, lines: list[Line], kind: str, cont: str, top: bool = False) -> None:
        i, n = 0, len(lines)
        if top:
            i = front_matter_end(self.src, lines)
        in_list = kind == "list_item"
        while i < n:
            line = lines[i]
            if self.blank(line):
                i += 1
                continue
            cols, _ = indent(self.src, line)
            t = self.text(line)
            if cols >= 4:
                i = indented_code_end(self.src, lines, i)
                continue
            if FENCE.match(t):
                i = fence_end(self.src, lines, i)
            elif (j := math_block_end(self.src, lines, i)) > i:
                i = j
            elif HTML_RAW.match(t) or HTML_START.match(t) or HTML_TAG_LINE.match(t):
                i = html_block_end(self.src, lines, i)
            elif _THEMATIC.match(t):
                i += 1
            elif (m := _ATX.match(t)) is not None:
                self.atx(line, len(m.group(1)), cont)
                i += 1
            elif _QUOTE.match(t):
                i = self.quote(lines, i, cont, in_list)
            elif _FOOTNOTE_DEF.match(t):
                i = self.container(lines, i, _FOOTNOTE_DEF, "footnote", cont, in_list)
            elif _LIST.match(t):
                i = self.container(lines, i, _LIST, "list_item", cont, in_list)
            elif i + 1 < n and "|" in t and _DELIM_ROW.match(below := self.text(lines[i + 1])) and "|" in below:
                i = self.table(lines, i, cont)
            elif is_link_def(self.src, line):
                i += 1
            else:
                i = self.paragraph(lines, i, kind, cont, in_list)

    def quote(self, lines: list[Line], i: int, cont: str, in_list: bool) -> int:
        inner: list[Line] = []
        prev_para = False
        while i < len(lines):
            line = lines[i]
            m = _QUOTE.match(self.text(line))
            if m is not None:
                inner.append(Line(line.start, line.cstart + m.end(), line.end, line.nl_end))
                prev_para = not self.blank(inner[-1])
            elif prev_para and not self.blank(line) and not self.interrupts(line, in_list):
                inner.append(line)  # lazy continuation line
            else:
                break
            i += 1
        first = lines[i - len(inner)]
        prefix = self.src[first.cstart : inner[0].cstart]
        self.nested(inner, "quote", cont + prefix.replace("\t", " "))
        return i

    def container(
        self, lines: list[Line], i: int, marker: re.Pattern[str], kind: str, cont: str, in_list: bool
    ) -> int:
        line = lines[i]
        m = marker.match(self.text(line))
        assert m is not None
        after = line.cstart + m.end()
        spaces = 0
        while after + spaces < line.end and self.src[after + spaces] in " \t" and spaces < 4:
            spaces += 1
        rest_blank = after + spaces >= line.end
        if kind == "footnote":
            width = 4
            content_start = after + spaces
        else:
            if spaces > 4 or rest_blank:
                spaces = 1
            width = (m.end() + spaces) if not rest_blank else m.end() + 1
            content_start = min(after + spaces, line.end)
        inner = [Line(line.start, content_start, line.end, line.nl_end)]
        j = i + 1
        last_nonblank = not rest_blank
        while j < len(lines):
            nxt = lines[j]
            if self.blank(nxt):
                inner.append(nxt)
                j += 1
                last_nonblank = False
                continue
            cols, _ = indent(self.src, nxt)
            if cols >= width:
                inner.append(strip_cols(self.src, nxt, width))
            elif last_nonblank and not self.interrupts(nxt, in_list) and not _LIST.match(self.text(nxt)):
                inner.append(nxt)  # lazy continuation
            else:
                break
            last_nonblank = True
            j += 1
        while inner and len(inner) > 1 and self.blank(inner[-1]):
            inner.pop()
            j -= 1
        prefix = _MARKER.sub(lambda mm: " " * len(mm.group(0)), self.src[line.cstart : content_start], count=1)
        self.nested(inner, kind, cont + prefix.replace("\t", " "))
        return j

    # -- translatable leaves ---------------------------------------------------------------------------------------
    def emit(self, line_ranges: list[tuple[int, int]], kind: str, unit: tuple[int, int], cont: str, **kw: int) -> None:
        """Trim the ranges (leading blanks of every line, trailing blanks of the last) and record a segment."""
        src = self.src
        pieces: list[tuple[int, int]] = []
        for a, b in line_ranges:
            while a < b and src[a] in " \t":
                a += 1
            pieces.append((a, b))
        while pieces and pieces[-1][0] >= pieces[-1][1]:
            pieces.pop()
        while pieces and pieces[0][0] >= pieces[0][1]:
            pieces.pop(0)
        if not pieces:
            return
        a, b = pieces[-1]
        while b > a and src[b - 1] in " \t":
            b -= 1
        pieces[-1] = (a, b)
        self.out.append(
            RawSegment(pieces, kind, unit, self.nl + cont, level=kw.get("level", 0), single_line=bool(kw.get("single")))
        )

    def atx(self, line: Line, level: int, cont: str) -> None:
        t = self.text(line)
        m = _ATX.match(t)
        assert m is not None
        a, b = line.cstart + m.end(), line.end
        closing = re.search(r"(?:^|[ \t]+)#+[ \t]*$", self.src[a:b])
        if closing is not None:
            b = a + closing.start()
        self.emit([(a, b)], "heading", (line.start, line.nl_end), cont, level=level, single=1)

    def paragraph(self, lines: list[Line], i: int, kind: str, cont: str, in_list: bool) -> int:
        j = i + 1
        while j < len(lines):
            nxt = lines[j]
            if self.blank(nxt):
                break
            sm = _SETEXT.match(self.text(nxt))
            if sm is not None and indent(self.src, nxt)[0] < 4:
                level = 1 if sm.group(1)[0] == "=" else 2
                para = lines[i:j]
                spans = [(ln.cstart, ln.end) for ln in para]
                self.emit(spans, "heading", (para[0].start, nxt.nl_end), cont, level=level)
                return j + 1
            if self.interrupts(nxt, in_list):
                break
            j += 1
        para = lines[i:j]
        unit = (para[0].start, para[-1].nl_end)
        ranges = [(ln.cstart, ln.end) for ln in para]
        caption = self.caption(ranges)
        if caption is not None:
            self.emit(caption, "caption", unit, cont)
        else:
            self.emit(ranges, "paragraph" if kind == "doc" else kind, unit, cont)
        return j

    def caption(self, ranges: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        """For a paragraph that is one image (plus d2l/MyST roles such as ``:label:``), the alt text's ranges."""
        first = ranges[0][0]
        src = self.src
        while first < ranges[0][1] and src[first] in " \t":
            first += 1
        if not src.startswith("![", first):
            return None
        # Work on the joined content so that alt text may span lines.
        content = "\n".join(src[a:b] for a, b in [(first, ranges[0][1]), *ranges[1:]])
        close = _link_text_end(content, 1, len(content))
        if close < 0 or content[close + 1 : close + 2] != "(":
            return None
        k = _balanced(content, close + 1, len(content), "(", ")")
        if k < 0 or not _ROLE_ONLY.fullmatch(content, k):
            return None
        return _narrow([(first, ranges[0][1]), *ranges[1:]], 2, close)

    def table(self, lines: list[Line], i: int, cont: str) -> int:
        j = i + 2
        while j < len(lines) and not self.blank(lines[j]) and not self.interrupts(lines[j], False):
            j += 1
        unit = (lines[i].start, lines[j - 1].nl_end)
        for r in (i, *range(i + 2, j)):
            for a, b in _cells(self.src, lines[r]):
                self.emit([(a, b)], "table_cell", unit, cont, single=1)
        return j


def _cells(src: str, line: Line) -> list[tuple[int, int]]:
    """Cell ranges of a table row: split at unescaped pipes outside code spans; outer pipes are optional."""
    bounds: list[int] = []
    i, end = line.cstart, line.end
    while i < end:
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            run = re.match(r"`+", src[i:end])
            assert run is not None
            n = len(run.group(0))
            close = re.compile(rf"(?<!`)`{{{n}}}(?!`)").search(src, i + n, end)
            if close is not None:
                i = close.end()
                continue
            i += n
            continue
        if ch == "|":
            bounds.append(i)
        i += 1
    cells: list[tuple[int, int]] = []
    start = line.cstart
    for p in bounds:
        cells.append((start, p))
        start = p + 1
    cells.append((start, end))
    return [(a, b) for a, b in cells if src[a:b].strip()]


def _narrow(pieces: list[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
    """The source ranges of content offsets ``[a, b)`` of the content ``"\\n".join(pieces)``."""
    out: list[tuple[int, int]] = []
    off = 0
    for s, e in pieces:
        length = e - s
        if off <= b and off + length >= a:
            out.append((s + max(a, off) - off, s + min(b, off + length) - off))
        off += length + 1
    return out


def scan_blocks(src: str) -> list[RawSegment]:
    """All translatable leaves of ``src`` in document order."""
    sc = _Scanner(src)
    sc.blocks(split_lines(src), "doc", "", top=True)
    sc.out.sort(key=lambda r: r.pieces[0][0])
    return sc.out
