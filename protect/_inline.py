"""Inline masking: find the spans of a block's text that the model must never see.

The scanner walks the text once, jumping from one trigger character to the next, and returns sorted, non-overlapping
``(start, end)`` spans. It is deliberately conservative: where the syntax is ambiguous (an unclosed ``$``, ``\\(`` or
environment) the rest of the block is masked, so it is left untranslated rather than corrupted.

Links and images are masked as two spans, the opener (``[`` / ``![``) and the closer (``](url "title")``), so that the
link text stays translatable while the URL never reaches the model.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ._placeholder import PlaceholderStyle

__all__ = ["find_masks"]

_BASE_TRIGGERS = (
    r"[\\`$<\[]"
    r"|!\["
    r"|:[A-Za-z][\w.+-]*:`"  # Sphinx/MyST/d2l role  :cite:`key`
    r"|\{[A-Za-z][\w.:+-]*\}`"  # MyST role  {cite}`key`
    r"|(?<![^\n]):[A-Za-z][\w.+-]*:(?=[ \t]*(?:\n|\Z))"  # a bare d2l directive line  :end_tab:
    r"|(?:https?|ftp)://|(?<![\w/.@])www\."
)

_REF_COMMANDS = frozenset(
    ["cite", "citep", "citet", "citeauthor", "citeyear", "citealp", "citealt", "nocite", "parencite", "textcite",
     "autocite", "footcite", "ref", "eqref", "autoref", "cref", "Cref", "pageref", "nameref", "vref", "label", "url",
     "hyperref", "input", "include", "includegraphics"]
)
# Commands whose last brace argument is prose: opener and closer are masked, the argument stays translatable.
_WRAP_COMMANDS = frozenset(["emph", "textbf", "textit", "textsl", "underline", "footnote", "href"])
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9.+-]{1,31}:[^\s<>]*>|<[^\s@<>\\]+@[^\s@<>\\]+\.[^\s@<>\\]+>")
_HTML = re.compile(
    r"<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*\s*/?>"
    r"|</[A-Za-z][A-Za-z0-9-]*\s*>"
    r"|<!--.*?-->"
    r"|<\?.*?\?>"
    r"|<![A-Za-z][^>]*>"
    r"|<!\[CDATA\[.*?\]\]>",
    re.DOTALL,
)
_FOOTNOTE_REF = re.compile(r"\[\^[^\]\s[]+\]")  # no "[" inside: "[^1[^1[^1..." would rescan to the end (quadratic)
_CURRENCY = re.compile(r"\$\d[\d,]*(?:\.\d+)?")
_COMMAND = re.compile(r"\\([A-Za-z]+)\*?")
_BEGIN = re.compile(r"\\begin\s*\{([^{}]+)\}")
_URL_BODY = re.compile(r"[^\s<>`]*")
_BACKTICKS = re.compile(r"`+")

Span = tuple[int, int]


@lru_cache(maxsize=16)
def _trigger(style: PlaceholderStyle) -> re.Pattern[str]:
    return re.compile(f"{_BASE_TRIGGERS}|{style.danger.pattern}", style.danger.flags)


def find_masks(text: str, style: PlaceholderStyle, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans of ``text[start:end]`` to protect, sorted, with touching spans merged."""
    spans: list[Span] = []
    _scan(text, start, len(text) if end is None else end, style, spans)
    spans.sort()
    merged: list[Span] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _scan(s: str, pos: int, end: int, style: PlaceholderStyle, out: list[Span]) -> None:
    trigger = _trigger(style)
    while pos < end:
        m = trigger.search(s, pos, end)
        if m is None:
            return
        i = m.start()
        danger = style.danger.match(s, i, end)
        if danger is not None and danger.end() > i:
            out.append((i, danger.end()))
            pos = danger.end()
            continue
        c = s[i]
        if c == "\\":
            pos = _backslash(s, i, end, style, out)
        elif c == "`":
            pos = _code_span(s, i, end, out)
        elif c == "$":
            pos = _dollar(s, i, end, out)
        elif c == "<":
            pos = _angle(s, i, end, out)
        elif c == "!" or c == "[":
            pos = _bracket(s, i, end, style, out)
        elif c == ":" and s[m.end() - 1] == ":":
            pos = _add(out, i, m.end())
        elif c == ":" or c == "{":
            pos = _role(s, i, m.end(), end, out)
        else:
            pos = _url(s, i, end, out)


def _add(out: list[Span], a: int, b: int) -> int:
    out.append((a, b))
    return b


def _balanced(s: str, i: int, end: int, open_: str, close: str) -> int:
    """Index just past the group opened at ``s[i] == open_`` (backslash escapes skipped), or -1."""
    k = _pairs(s, open_, close, False).get(i, -1)
    return k + 1 if 0 <= k < end else -1


@lru_cache(maxsize=32)
def _pairs(s: str, open_: str, close: str, skip_code: bool) -> dict[int, int]:
    """Position of the matching closer for every opener of ``s``, in one pass (a table, so that a block full of
    unmatched openers costs linear time, not quadratic). Backslash escapes are skipped; with ``skip_code``, so are
    code spans (link text may contain `]` inside code)."""
    events = re.compile("[\\\\" + re.escape(open_ + close) + ("`" if skip_code else "") + "]")
    code = _code_spans(s) if skip_code else {}
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(s)
    while i < n:
        m = events.search(s, i)
        if m is None:
            break
        j = m.start()
        ch = s[j]
        if ch == "\\":
            i = j + 2
            continue
        if ch == "`":
            run = _BACKTICKS.match(s, j)
            assert run is not None
            i = code.get(j, run.end())
            continue
        if ch == open_:
            stack.append(j)
        elif stack:
            pairs[stack.pop()] = j
        i = j + 1
    return pairs


def _code_spans(s: str) -> dict[int, int]:
    """``{start: end}`` of the code spans of ``s``: a backtick run is closed by the next run of the same length."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(s)]
    nxt: list[int] = [-1] * len(runs)
    last: dict[int, int] = {}
    for k in range(len(runs) - 1, -1, -1):
        width = runs[k][1] - runs[k][0]
        nxt[k] = last.get(width, -1)
        last[width] = k
    spans: dict[int, int] = {}
    k = 0
    while k < len(runs):
        j = nxt[k]
        if j < 0:
            k += 1
            continue
        spans[runs[k][0]] = runs[j][1]
        k = j + 1
    return spans


def _backslash(s: str, i: int, end: int, style: PlaceholderStyle, out: list[Span]) -> int:
    nxt = s[i + 1] if i + 1 < end else ""
    if nxt == "\\" and s[i + 2 : i + 3] in ("(", "[") and i + 3 <= end:
        # \\( … \\) and \\[ … \\]: MathJax delimiters written for Markdown (which turns "\\(" into "\("). Only a
        # closed pair is math; otherwise it is an escaped backslash before a bracket (a LaTeX line break "\\[2pt]").
        closer = "\\\\)" if s[i + 2] == "(" else "\\\\]"
        j = s.find(closer, i + 3, end)
        if j >= 0:
            return _add(out, i, j + 3)
    if nxt in ("(", "["):
        closer = "\\)" if nxt == "(" else "\\]"
        j = s.find(closer, i + 2, end)
        return _add(out, i, end if j < 0 else j + 2)
    if nxt in _ASCII_PUNCT:
        return _add(out, i, i + 2)
    begin = _BEGIN.match(s, i, end)
    if begin is not None:
        return _add(out, i, _environment_end(s, begin, end))
    cmd = _COMMAND.match(s, i, end)
    if cmd is None:
        return i + 1
    name = cmd.group(1)
    if name == "verb":
        j = cmd.end()
        if j >= end:
            return _add(out, i, end)
        k = s.find(s[j], j + 1, end)
        return _add(out, i, end if k < 0 else k + 1)
    j = cmd.end()
    if name in _WRAP_COMMANDS:
        return _wrap_command(s, i, j, end, name, style, out)
    # A reference or an unknown command: the command and all its directly attached arguments are protected.
    while j < end and s[j] in "[{":
        k = _balanced(s, j, end, s[j], "]" if s[j] == "[" else "}")
        if k < 0:
            return _add(out, i, end) if name in _REF_COMMANDS else _add(out, i, j)
        j = k
    return _add(out, i, j)


def _wrap_command(s: str, i: int, j: int, end: int, name: str, style: PlaceholderStyle, out: list[Span]) -> int:
    while j < end and s[j] == "[":  # optional arguments are never prose
        k = _balanced(s, j, end, "[", "]")
        if k < 0:
            return _add(out, i, end)
        j = k
    if name == "href":
        if j >= end or s[j] != "{":
            return _add(out, i, j)
        k = _balanced(s, j, end, "{", "}")
        if k < 0:
            return _add(out, i, end)
        j = k
    if j >= end or s[j] != "{":
        return _add(out, i, j)
    k = _balanced(s, j, end, "{", "}")
    if k < 0:
        return _add(out, i, end)
    out.append((i, j + 1))
    _scan(s, j + 1, k - 1, style, out)
    return _add(out, k - 1, k)


def _environment_end(s: str, begin: re.Match[str], end: int) -> int:
    name = re.escape(begin.group(1))
    pattern = re.compile(rf"\\(begin|end)\s*\{{{name}\}}")
    depth = 1
    for m in pattern.finditer(s, begin.end(), end):
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            return m.end()
    return end  # unclosed: everything after it is ambiguous


def _code_span(s: str, i: int, end: int, out: list[Span]) -> int:
    run = _BACKTICKS.match(s, i, end)
    assert run is not None
    n = run.end() - i
    for m in _BACKTICKS.finditer(s, run.end(), end):
        if m.end() - m.start() == n:
            return _add(out, i, m.end())
    return _add(out, i, run.end())  # a lone backtick run is literal, but still kept out of the model's hands


def _dollar(s: str, i: int, end: int, out: list[Span]) -> int:
    if s.startswith("$$", i):
        j = s.find("$$", i + 2, end)
        return _add(out, i, end if j < 0 else j + 2)
    if i + 1 >= end or s[i + 1].isspace():
        # "$ " cannot open math (pandoc's rule); it is an ordinary dollar sign, still kept from the model so that a
        # model cannot pair it with another one
        return _add(out, i, i + 1)
    j = i + 1
    while j < end:
        ch = s[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "$" and not s[j - 1].isspace() and not (j + 1 < end and s[j + 1].isdigit()):
            return _add(out, i, j + 1)
        j += 1
    currency = _CURRENCY.match(s, i, end)
    if currency is not None:
        return _add(out, i, currency.end())
    return _add(out, i, end)  # an unbalanced "$": ambiguous, so the rest is untranslatable


def _angle(s: str, i: int, end: int, out: list[Span]) -> int:
    m = _AUTOLINK.match(s, i, end) or _HTML.match(s, i, end)
    return _add(out, i, m.end()) if m is not None else i + 1


def _bracket(s: str, i: int, end: int, style: PlaceholderStyle, out: list[Span]) -> int:
    image = s[i] == "!"
    b = i + 1 if image else i
    if not image:
        fn = _FOOTNOTE_REF.match(s, i, end)
        if fn is not None:
            return _add(out, i, fn.end())
    close = _link_text_end(s, b, end)
    if close < 0 or close + 1 >= end:
        return i + 1
    after = s[close + 1]
    if after == "(":
        k = _balanced(s, close + 1, end, "(", ")")
    elif after == "[" and s[close + 2 : close + 3] not in ("", "]"):
        k = _balanced(s, close + 1, end, "[", "]")
    else:
        return i + 1
    if k < 0:
        return i + 1
    out.append((i, b + 1))
    _scan(s, b + 1, close, style, out)
    return _add(out, close, k)


def _link_text_end(s: str, b: int, end: int) -> int:
    """Index of the ``]`` closing the link text opened at ``s[b] == '['``; code spans and escapes are skipped."""
    k = _pairs(s, "[", "]", True).get(b, -1)
    return k if 0 <= k < end else -1


def _role(s: str, i: int, tick_end: int, end: int, out: list[Span]) -> int:
    j = s.find("`", tick_end, end)
    if j >= 0:
        return _add(out, i, j + 1)
    # No closing backtick: protect the role and the target-like word after it, leave the rest alone.
    k = tick_end
    while k < end and not s[k].isspace():
        k += 1
    return _add(out, i, k)


def _url(s: str, i: int, end: int, out: list[Span]) -> int:
    m = _URL_BODY.match(s, i, end)
    assert m is not None
    j = m.end()
    # GFM's extended autolink rule: trailing punctuation is not part of the URL, nor is an unbalanced ")".
    while j > i:
        ch = s[j - 1]
        if ch in "?!.,:*_~'\"" or ch == ")" and s.count("(", i, j) < s.count(")", i, j):
            j -= 1
        else:
            break
    return _add(out, i, j) if j > i else i + 1
