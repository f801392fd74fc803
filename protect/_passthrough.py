"""Leaf blocks that pass through untranslated: front matter, indented and fenced code, display math and LaTeX
environments, HTML blocks, link reference definitions.

Each recogniser takes the lines of one container and the index of the block's first line and returns the index just
past the block (CommonMark's end conditions); the block scanner (``_blocks.py``) skips those lines. The start patterns
are shared with the scanner, which also needs them to decide what interrupts a paragraph.
"""

from __future__ import annotations

import re

from ._lines import Line, indent, is_blank, line_text

__all__ = [
    "FENCE",
    "HTML_RAW",
    "HTML_START",
    "HTML_TAG_LINE",
    "fence_end",
    "front_matter_end",
    "html_block_end",
    "indented_code_end",
    "is_link_def",
    "math_block_end",
]

FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_LINK_DEF = re.compile(r" {0,3}\[(?:[^\]\\]|\\.)+\]:[ \t]*\S")
# A whole link reference definition: [label]: destination "optional title"
_LINK_REFERENCE_DEFINITION = re.compile(
    r"\[(?:[^\]\\]|\\.)+\]:\s*(?:<[^>]*>|\S+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?"
)
# $$, \[ and environments; also \\[ (MathJax's \[ written for Markdown, which eats one backslash)
_MATH_BLOCK = re.compile(r" {0,3}(\$\$|\\\\\[|\\\[|\\begin\s*\{([^{}]+)\})")
_HTML_BLOCK_TAGS = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|dt|"
    "fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|"
    "menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|"
    "title|tr|track|ul"
)
HTML_RAW = re.compile(r" {0,3}<(script|pre|style|textarea)(?:[\s>]|$)", re.IGNORECASE)
HTML_START = re.compile(
    rf" {{0,3}}(?:<!--|<\?|<![A-Za-z]|<!\[CDATA\[|</?(?:{_HTML_BLOCK_TAGS})(?:[\s/>]|/>|$))", re.IGNORECASE
)
HTML_TAG_LINE = re.compile(
    r" {0,3}(?:<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*\s*/?>"
    r"|</[A-Za-z][A-Za-z0-9-]*\s*>)[ \t]*$"
)


def _paragraph_end(src: str, lines: list[Line], j: int) -> int:
    """The index of the first blank line from ``j`` on (or the end)."""
    while j < len(lines) and not is_blank(src, lines[j]):
        j += 1
    return j


def front_matter_end(src: str, lines: list[Line]) -> int:
    """Past a YAML (``---``) or TOML (``+++``) front matter block opening the document; 0 when there is none."""
    if not lines or line_text(src, lines[0]).rstrip() not in ("---", "+++"):
        return 0
    fence = line_text(src, lines[0]).rstrip()
    closers = ("---", "...") if fence == "---" else ("+++",)
    for j in range(1, len(lines)):
        if line_text(src, lines[j]).rstrip() in closers:
            return j + 1
    return 0  # no closing line: it is a thematic break, not front matter


def indented_code_end(src: str, lines: list[Line], i: int) -> int:
    j = i
    while j < len(lines) and (is_blank(src, lines[j]) or indent(src, lines[j])[0] >= 4):
        j += 1
    return j


def fence_end(src: str, lines: list[Line], i: int) -> int:
    m = FENCE.match(line_text(src, lines[i]))
    assert m is not None
    tick = m.group(1)
    closer = re.compile(rf" {{0,3}}{re.escape(tick[0])}{{{len(tick)},}}[ \t]*$")
    for j in range(i + 1, len(lines)):
        if closer.match(line_text(src, lines[j])):
            return j + 1
    return len(lines)  # an unclosed fence runs to the end of its container (CommonMark)


def _math_closer(m: re.Match[str]) -> re.Pattern[str]:
    """What ends the display math that ``m`` (a :data:`_MATH_BLOCK` match) opens; environments also match their
    nested ``\\begin`` of the same name, which the caller counts."""
    opener = m.group(1)
    if opener == "$$":
        return re.compile(r"\$\$")
    if opener.startswith("\\\\["):
        return re.compile(r"\\\\\]")
    if opener.startswith("\\["):
        return re.compile(r"\\\]")
    name = re.escape(m.group(2))
    return re.compile(rf"\\(begin|end)\s*\{{{name}\}}")


def math_block_end(src: str, lines: list[Line], i: int) -> int:
    """Display math starting a block; returns i when there is none or it does not close at a line end (then it is
    prose)."""
    m = _MATH_BLOCK.match(line_text(src, lines[i]))
    if m is None:
        return i
    opener = m.group(1)
    closer = _math_closer(m)
    depth = 1
    pos = lines[i].cstart + m.end()
    for j in range(i, len(lines)):
        if j > i:
            pos = lines[j].cstart
            if is_blank(src, lines[j]) and opener == "$$":
                break
        for c in closer.finditer(src, pos, lines[j].end):
            if c.lastindex and c.group(1) == "begin":
                depth += 1
                continue
            depth -= 1
            if depth == 0:
                tail = src[c.end() : lines[j].end]
                return j + 1 if not tail.strip() else i
    if opener.startswith("\\begin"):
        # An unclosed environment: conservative, the rest of its paragraph passes through untouched.
        return _paragraph_end(src, lines, i + 1)
    return i


def html_block_end(src: str, lines: list[Line], i: int) -> int:
    t = line_text(src, lines[i])
    raw = HTML_RAW.match(t)
    end_pat: re.Pattern[str] | None = None
    if raw is not None:
        end_pat = re.compile(rf"</{raw.group(1)}>", re.IGNORECASE)
    elif t.lstrip().startswith("<!--"):
        end_pat = re.compile("-->")
    elif t.lstrip().startswith("<?"):
        end_pat = re.compile(r"\?>")
    if end_pat is not None:
        for j in range(i, len(lines)):
            if end_pat.search(line_text(src, lines[j])):
                return j + 1
        return len(lines)
    return _paragraph_end(src, lines, i)


def is_link_def(src: str, line: Line) -> bool:
    """Whether the line is a whole link reference definition (``[label]: destination "title"``)."""
    t = line_text(src, line)
    return _LINK_DEF.match(t) is not None and _LINK_REFERENCE_DEFINITION.fullmatch(t.strip()) is not None
