"""Copied text: prompt text echoed into a translation, and source sentences left in English.

A small base model continues a few-shot prompt by copying from it: example sentences
("在实践中，我们很少从头开始训练这样的网络") and instructions turn up in unrelated segments.
:func:`echoed_prompt_text` finds the longest span that an output shares with each text the prompt showed; a span long
enough (:data:`ECHO_MIN_WEIGHT`), or nearly all of a short text, that the source does not warrant is an echo. The
source warrants it when it contains the span itself, or when it shares a run of words with the English that the
copied text translates (an example's source sentence), i.e. when the segment really says the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

from ._placeholder import STYLES

__all__ = ["ECHO_MIN_WEIGHT", "PromptText", "echoed_prompt_text", "untranslated_sentences"]

#: An echo is a shared span weighing at least this much: CJK characters, placeholders and English words count 1 each
#: ("在参数⟦2⟧上最小化" weighs 8; "如⟦1⟧所示" 5, a phrase any translation may share, stays below).
ECHO_MIN_WEIGHT = 8
#: Consecutive words that the source must share with an example's English for copying its translation to be fine.
WARRANT_WORDS = 3

_MARK = "\ue000"  # one private-use character per placeholder, whatever its form
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"[a-z][a-z'’-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class PromptText:
    """Text a prompt shows the model that a translation must not copy.

    ``text``: an example's translation or source, or an instruction (placeholders in any form); ``warrant``: English
    that, found in the segment's source, makes copying ``text`` legitimate (for an example's translation, the example's
    source sentence; empty = never legitimate unless the source contains the copied span itself).
    """

    text: str
    warrant: str = ""


def _norm(text: str) -> str:
    for style in STYLES.values():
        text = style.token.sub(_MARK, text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _weight(span: str) -> int:
    return len(_CJK.findall(span)) + span.count(_MARK) + len(_WORD.findall(span))


def _shares_words(a: str, b: str, n: int) -> bool:
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    grams = {tuple(wb[i : i + n]) for i in range(len(wb) - n + 1)}
    return any(tuple(wa[i : i + n]) in grams for i in range(len(wa) - n + 1))


def echoed_prompt_text(source: str, output: str, texts: Iterable[PromptText]) -> list[str]:
    """The spans of ``output`` copied from ``texts`` that ``source`` does not warrant (normalised: lower case, one
    space, placeholders as one private-use character)."""
    out, src = _norm(output), _norm(source)
    found: list[str] = []
    for t in texts:
        shown = _norm(t.text)
        m = SequenceMatcher(None, out, shown, autojunk=False).find_longest_match(0, len(out), 0, len(shown))
        span = out[m.a : m.a + m.size].strip()
        weight = _weight(span)
        # long enough, or nearly all of a short text (a one-line example copied whole)
        if (weight < ECHO_MIN_WEIGHT and not (weight >= 5 and weight >= 0.8 * _weight(shown))) or span in src:
            continue
        if t.warrant and _shares_words(src, _norm(t.warrant), WARRANT_WORDS):
            continue
        found.append(span)
    return found


def untranslated_sentences(source: str, output: str, min_words: int = 6) -> tuple[int, int]:
    """``(copied, total)``: the source's sentences of at least ``min_words`` English words, and how many of them the
    output carries mostly in English: runs of at least ``min_words`` of their words that the output also has, in order,
    covering half of them.

    Linear in the text: the output's ``min_words``-grams go into a set once, and each sentence marks the words of its
    grams found there (a sequence matcher per sentence was quadratic on long runs of one repeated word)."""
    out_words = _WORD.findall(_norm(output))
    grams = {tuple(out_words[i : i + min_words]) for i in range(len(out_words) - min_words + 1)}
    total = copied = 0
    for sentence in _SENTENCE_END.split(source):
        words = _WORD.findall(_norm(sentence))
        if len(words) < min_words:
            continue
        total += 1
        covered = [False] * len(words)
        for i in range(len(words) - min_words + 1):
            if tuple(words[i : i + min_words]) in grams:
                covered[i : i + min_words] = [True] * min_words
        if 2 * sum(covered) >= len(words):
            copied += 1
    return copied, total
