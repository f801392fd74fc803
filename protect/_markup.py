"""Inline Markdown structure of a masked text: emphasis delimiters, code backticks, and the order of paired spans.

Protect masks code spans, math, link openers (``[``) and closers (``](url)``), footnote references and the opener and
closer of wrapping commands (``\\textbf{`` … ``}``), so a translation keeps those bytes by the placeholder inventory.
What it cannot keep is the prose's own markup (``**``, ``*``, ``_``, ``__``, stray backticks) and the order of an
opener and its closer. :func:`markup_counts` counts the first, :func:`broken_pairs` checks the second.

The counts are of delimiter runs that can open or close emphasis (CommonMark's flanking rule, simplified): a run
with whitespace on both sides (``a * b``) is not a delimiter, nor is ``_`` inside a word (``snake_case``). Each run
of ``n`` stars counts ``n // 2`` strong and ``n % 2`` emphasis delimiters (``***`` is both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._placeholder import PlaceholderStyle

__all__ = ["MarkupCounts", "balance_markup", "broken_pairs", "markup_counts"]

_MARK = "\ue000"  # a placeholder in the prose: not whitespace, not a letter (a delimiter next to it may flank)
_RUN = re.compile(r"\*+|_+|`+")
# Wrapping openers whose closer is a separate placeholder: a link or image opener (with the spans that touch it, e.g.
# "[`code`"), a command's "{" (``\textbf{``).
_LINK_OPENER = re.compile(r"!?\[(?!.*\]\()", re.DOTALL)
_COMMAND_OPENER = re.compile(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])*\{")
_CLOSER = re.compile(r"\]|\}")


@dataclass(frozen=True)
class MarkupCounts:
    """Delimiters of one text: ``strong`` (``**``), ``em`` (``*``), ``strong_u`` (``__``), ``em_u`` (``_``),
    ``backticks`` (unmasked backtick runs)."""

    strong: int = 0
    em: int = 0
    strong_u: int = 0
    em_u: int = 0
    backticks: int = 0

    def differences(self, other: MarkupCounts, drops_ok: tuple[str, ...] = ()) -> list[str]:
        """``"name a->b"`` for each count that differs from ``other``'s (``self`` is the source), except the counts
        named in ``drops_ok`` where ``other`` has fewer, in whole pairs (an even count)."""
        found = []
        for name in ("strong", "em", "strong_u", "em_u", "backticks"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b and not (name in drops_ok and b < a and b % 2 == 0):
                found.append(f"{name} {a}->{b}")
        return found


def markup_counts(text: str, style: PlaceholderStyle) -> MarkupCounts:
    """The delimiter counts of ``text``'s prose (placeholders stand for masked spans and carry no markup)."""
    prose = style.token.sub(_MARK, text)
    counts = {"strong": 0, "em": 0, "strong_u": 0, "em_u": 0, "backticks": 0}
    for m in _RUN.finditer(prose):
        before = prose[m.start() - 1] if m.start() else " "
        after = prose[m.end()] if m.end() < len(prose) else " "
        if before.isspace() and after.isspace():
            continue  # "a * b": neither left- nor right-flanking
        run, n = m.group(0), len(m.group(0))
        if run[0] == "`":
            counts["backticks"] += 1
        elif run[0] == "*":
            counts["strong"] += n // 2
            counts["em"] += n % 2
        elif not (before.isalnum() and after.isalnum()):  # "_" inside a word never opens or closes
            counts["strong_u"] += n // 2
            counts["em_u"] += n % 2
    return MarkupCounts(**counts)


def _pairs(text: str, placeholders: Mapping[str, str], style: PlaceholderStyle) -> list[tuple[str, str, bool]]:
    """``(opener, closer, text between them is not blank)`` for the paired placeholders of ``text``, in order."""
    stack: list[tuple[str, int]] = []
    pairs: list[tuple[str, str, bool]] = []
    for m in style.token.finditer(text):
        ph = style.canonical(m)
        original = placeholders.get(ph, "")
        if _LINK_OPENER.match(original) or _COMMAND_OPENER.fullmatch(original):
            stack.append((ph, m.end()))
        elif _CLOSER.match(original) and stack:
            opener, end = stack.pop()
            pairs.append((opener, ph, bool(style.token.sub("", text[end : m.start()]).strip())))
    return pairs


def broken_pairs(source: str, output: str, placeholders: Mapping[str, str], style: PlaceholderStyle) -> list[str]:
    """The source's opener/closer pairs (link ``[`` … ``](url)``, ``\\textbf{`` … ``}``) that ``output`` breaks: the
    closer written before its opener, or the text between them (a link text) emptied."""
    positions = {style.canonical(m): m.start() for m in style.token.finditer(output)}
    out_pairs = {(a, b): filled for a, b, filled in _pairs(output, placeholders, style)}
    broken = []
    for opener, closer, filled in _pairs(source, placeholders, style):
        if opener not in positions or closer not in positions:
            continue  # a missing placeholder is reported as such
        if positions[closer] < positions[opener]:
            broken.append(f"{opener}…{closer} reversed")
        elif filled and not out_pairs.get((opener, closer), True):
            broken.append(f"{opener}…{closer} emptied")
    return broken


def _strong_runs(text: str, style: PlaceholderStyle, name: str) -> list[tuple[int, int, bool, bool]]:
    """``(start, end, can_open, can_close)`` of the ``*`` runs of ``text`` that carry a ``name`` delimiter ("strong":
    two or more stars, "em": an odd number), outside placeholders, with markup_counts' flanking rule."""
    masked = style.token.sub(lambda m: _MARK * len(m.group(0)), text)  # same length: positions stay those of text
    runs = []
    for m in re.finditer(r"\*+", masked):
        before = masked[m.start() - 1] if m.start() else " "
        after = masked[m.end()] if m.end() < len(masked) else " "
        n = m.end() - m.start()
        if (before.isspace() and after.isspace()) or not (n >= 2 if name == "strong" else n % 2):
            continue
        runs.append((m.start(), m.end(), not after.isspace(), not before.isspace()))
    return runs


def _unpaired(runs: list[tuple[int, int, bool, bool]]) -> list[int]:
    """Indexes of the runs that pair with none: a closer with no opener before it, an opener never closed."""
    stack: list[int] = []
    orphans: list[int] = []
    for i, (_, _, can_open, can_close) in enumerate(runs):
        if can_close and stack:
            stack.pop()
        elif can_open:
            stack.append(i)
        else:
            orphans.append(i)
    return sorted(orphans + stack)


def balance_markup(source: str, output: str, style: PlaceholderStyle) -> str:
    """``output`` with its unpaired ``**`` / ``*`` delimiters dropped, for each kind whose count is odd where the
    source's is even (``markup_unbalanced``). The words stay; only that span's emphasis is lost, instead of an
    unclosed bold swallowing the rest of the paragraph when it renders."""
    src = markup_counts(source, style)
    for name, width in (("strong", 2), ("em", 1)):
        out = markup_counts(output, style)
        if not getattr(out, name) % 2 or getattr(src, name) % 2:
            continue
        runs = _strong_runs(output, style, name)
        drop = _unpaired(runs) or [len(runs) - 1]  # pairing found no orphan: the last delimiter is the odd one
        for i in reversed(drop):
            start = runs[i][0]
            output = output[:start] + output[start + width :]
    return output
