"""Repeated spans: the longest run of content that a text says twice (a sentence translated twice).

A text is read as content tokens: each CJK character, each Latin word (lower case), each number and each placeholder;
punctuation and spacing are ignored, so "他说，他说" repeats "他说". A span's weight counts a CJK character, a
number or a placeholder 1 and a Latin word 2 (an English word is about two Chinese characters), so that one
threshold serves Chinese output, English left in it, and the English source.

:func:`longest_repeat` is O(n log n): a binary search on the span length (capped at :data:`MAX_SPAN` tokens, which is
longer than any threshold) with a rolling hash of each length's spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._placeholder import PlaceholderStyle

__all__ = ["MAX_SPAN", "Repeat", "content_tokens", "longest_repeat"]

#: Longest span (in tokens) that :func:`longest_repeat` looks for; anything this long is a repetition anyway.
MAX_SPAN = 64

_CJK = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]"
_TOKEN = re.compile(rf"(\ue000)|({_CJK})|([^\W\d_]+(?:['’-][^\W\d_]+)*)|(\d+(?:[.,]\d+)*)")
_MOD = (1 << 61) - 1
_BASE = 1_000_003


@dataclass(frozen=True)
class Repeat:
    """The longest repeated span: its ``tokens`` (count), ``weight`` and ``text`` (the first occurrence's tokens)."""

    tokens: int = 0
    weight: int = 0
    text: str = ""


def content_tokens(text: str, style: PlaceholderStyle) -> list[tuple[str, int]]:
    """``(token, weight)`` for each content token of ``text`` (placeholders by their canonical form)."""
    marks = [style.canonical(m) for m in style.token.finditer(text)]
    prose = style.token.sub("\ue000", text)
    out: list[tuple[str, int]] = []
    k = 0
    for m in _TOKEN.finditer(prose):
        if m.group(1):
            out.append((marks[k], 1))
            k += 1
        elif m.group(3):
            out.append((m.group(3).lower(), 2))
        else:
            out.append((m.group(0), 1))
    return out


def _repeat_at(ids: list[int], n: int) -> int:
    """Start of a length-``n`` span that occurs again without overlapping its first occurrence, or -1."""
    if n == 0 or 2 * n > len(ids):
        return -1 if n else 0
    top = pow(_BASE, n - 1, _MOD)
    h = 0
    for x in ids[:n]:
        h = (h * _BASE + x) % _MOD
    first: dict[int, int] = {h: 0}
    for i in range(1, len(ids) - n + 1):
        h = ((h - ids[i - 1] * top) * _BASE + ids[i + n - 1]) % _MOD
        j = first.setdefault(h, i)
        if i - j >= n and ids[j : j + n] == ids[i : i + n]:
            return j
    return -1


def longest_repeat(text: str, style: PlaceholderStyle) -> Repeat:
    """The longest span of content tokens that ``text`` has twice without overlap (up to :data:`MAX_SPAN` tokens)."""
    toks = content_tokens(text, style)
    vocab: dict[str, int] = {}
    ids = [vocab.setdefault(t, len(vocab) + 1) for t, _ in toks]
    lo, hi, start = 0, min(MAX_SPAN, len(ids) // 2), 0
    while lo < hi:  # invariant: a repeat of length lo exists (at ``start``)
        mid = (lo + hi + 1) // 2
        at = _repeat_at(ids, mid)
        if at >= 0:
            lo, start = mid, at
        else:
            hi = mid - 1
    span = toks[start : start + lo]
    # words (weight 2) apart by a space, CJK characters and the rest as they are
    text = "".join((" " if w == 2 and k else "") + t + (" " if w == 2 else "") for k, (t, w) in enumerate(span))
    return Repeat(lo, sum(w for _, w in span), re.sub(r"\s+", " ", text).strip())
