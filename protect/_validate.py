"""Validation of one segment's translation, with machine-readable reasons.

Hard reasons make the segment fall back to its source text (the server retries first); soft reasons are reported and
the translation is kept. The faithfulness reasons (:data:`FAITHFULNESS_REASONS`, all soft) mark a translation that
keeps every protected byte but may not be faithful: worth a retry, and a reader's review if it stays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._echo import PromptText, echoed_prompt_text, untranslated_sentences
from ._glossary import Glossary
from ._inventory import check_inventory
from ._placeholder import STYLES
from ._segment import Segment
from ._touching import touching_formulas
from .faithful import FAITHFULNESS_REASONS, faithfulness, faithfulness_reasons, unbalanced

__all__ = [
    "FAITHFULNESS_REASONS",
    "HARD_REASONS",
    "LENGTH_RATIO_BAND",
    "RETRY_REASONS",
    "SOFT_REASONS",
    "SegmentReport",
    "validate",
]

HARD_REASONS = frozenset(
    {
        "placeholder_missing",
        "placeholder_duplicated",
        "placeholder_invented",
        "placeholder_altered",
        "empty_output",
        "prompt_echo",
    }
)
SOFT_REASONS = frozenset(
    {"identical_to_source", "length_ratio", "too_little_chinese", "glossary_term_missing", "untranslated_sentences"}
) | FAITHFULNESS_REASONS
#: Soft reasons worth another attempt: the translation is kept only if the retries do no better.
RETRY_REASONS = frozenset({"untranslated_sentences"})
#: ``untranslated_sentences``: at least this share of the source's sentences came back verbatim in English.
UNTRANSLATED_SHARE = 0.5

#: Allowed (translation chars) / (source chars) of the prose outside placeholders. Chinese is denser than English
#: (0.19–0.71, median 0.36, characters per English character on the dev data); outside this band something went wrong.
LENGTH_RATIO_BAND = (0.12, 1.2)
_MIN_RATIO_CHARS = 40  # shorter prose is too noisy for a ratio
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
# An English sentence left untranslated: six or more consecutive English words.
_ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,;:]+[A-Za-z][A-Za-z'’-]*){5,}")

Status = Literal["ok", "fallback"]


@dataclass
class SegmentReport:
    """The verdict on one segment: ``status`` is "fallback" when any hard reason is present."""

    status: Status = "ok"
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, code: str, detail: str) -> None:
        if code not in self.reasons:
            self.reasons.append(code)
        self.details.append(f"{code}: {detail}")
        if code in HARD_REASONS or code == "no_translation":
            self.status = "fallback"


def tokens(seg: Segment, text: str) -> list[tuple[int, int, str]]:
    """``(start, end, canonical placeholder)`` for every placeholder-shaped token in ``text`` (whitespace-tolerant)."""
    return [(m.start(), m.end(), seg.style.canonical(m)) for m in seg.style.token.finditer(text)]


def _prose(seg: Segment, text: str) -> str:
    return seg.style.token.sub(" ", text)


def validate(
    seg: Segment, translation: str, glossary: Glossary | None = None, *, prompt_texts: Sequence[PromptText] = ()
) -> SegmentReport:
    """Check ``translation`` (masked, as the model produced it) against ``seg``.

    Hard: placeholder_missing / _duplicated / _invented / _altered, empty_output, prompt_echo (a span of one of
    ``prompt_texts``, the examples and instructions the prompt showed, that the source does not warrant).
    Soft: identical_to_source, length_ratio, too_little_chinese, glossary_term_missing, untranslated_sentences
    (most of the source's sentences copied in English; in :data:`RETRY_REASONS`).

    Faithfulness (:mod:`.faithful`, thresholds calibrated on the training corpus, see ``docs/placeholders.md``):
    all soft, in :data:`FAITHFULNESS_REASONS`: markup_unbalanced (an odd ``**`` or ``*`` count where the source's is
    even: the rest of the paragraph would render wrong; :func:`balance_markup` repairs a kept output), omission
    (sentences, numbers and placeholders, or length
    per source unit below the human low tail for that source length), placeholders_displaced (glued together or
    stranded after the last sentence where the source spreads them, or most of their order reversed),
    placeholder_number (a bare number naming a placeholder written later), markup_changed (strong, emphasis, code
    or link structure differs), repetition (a span said twice that the source does not repeat), formulas_touching
    (two formulas written touching; restore separates them).
    """
    report = SegmentReport()
    if not translation.strip():
        report.add("empty_output", "the translation is empty")
        return report
    check = check_inventory(translation, seg.placeholders, seg.style)
    duplicated = dict(check.duplicated)
    for ph in seg.placeholders:
        if ph in check.missing:
            report.add("placeholder_missing", ph)
        elif ph in duplicated:
            report.add("placeholder_duplicated", f"{ph} x{duplicated[ph]}")
    for ph in dict.fromkeys(check.invented):
        report.add("placeholder_invented", ph)
    # Debris: an opener/closer (or a placeholder-like fragment) that is not part of a whole placeholder.
    # (Debris that the masked source itself shows, e.g. a literal "{" next to "{{1}}", is not the model's doing.)
    debris = seg.style.loose.findall(seg.style.token.sub("", translation))
    if len(debris) > len(seg.style.loose.findall(seg.style.token.sub("", seg.text))):
        report.add("placeholder_altered", ", ".join(repr(d) for d in debris))
    # Whole placeholders of another form (e.g. "⟦1⟧" copied from a few-shot example) are debris too.
    for other in STYLES.values():
        if other.name != seg.style.name:
            extra = other.token.findall(translation)
            if len(extra) > len(other.token.findall(seg.text)):
                report.add("placeholder_invented", f"{other.open}…{other.close} x{len(extra)}")
    for span in echoed_prompt_text(seg.text, translation, prompt_texts):
        report.add("prompt_echo", repr(span[:60]))
    _soft(seg, translation, glossary, report)
    _faithful(seg, translation, report)
    return report


def _faithful(seg: Segment, translation: str, report: SegmentReport) -> None:
    if translation == seg.text:
        return  # the source itself omits, displaces, changes and repeats nothing (and restore's identity stays cheap)
    figures = faithfulness(seg, translation)
    for fault in unbalanced(figures):
        report.add("markup_unbalanced", f"odd {fault} where the source's count is even")
    for code, detail in faithfulness_reasons(figures):
        report.add(code, detail)
    for _, left, right in touching_formulas(translation, seg.placeholders, seg.style, seg.text):
        report.add("formulas_touching", f"{left}{right} (restore separates them with a space)")


def _soft(seg: Segment, translation: str, glossary: Glossary | None, report: SegmentReport) -> None:
    src_prose, out_prose = _prose(seg, seg.text), _prose(seg, translation)
    src_words = _WORD.findall(src_prose)
    if translation.strip() == seg.text.strip() and src_words:
        report.add("identical_to_source", "the output equals the source")
    src_len = len(re.sub(r"\s+", "", src_prose))
    out_len = len(re.sub(r"\s+", "", out_prose))
    if src_len >= _MIN_RATIO_CHARS:
        ratio = out_len / src_len
        lo, hi = LENGTH_RATIO_BAND
        if not lo <= ratio <= hi:
            report.add("length_ratio", f"{ratio:.2f} outside [{lo}, {hi}]")
    copied, sentences = untranslated_sentences(seg.text, translation)
    if copied and copied >= UNTRANSLATED_SHARE * sentences:
        report.add("untranslated_sentences", f"{copied} of {sentences} sentences left in English")
    if len(src_words) >= 3:
        run = _ENGLISH_RUN.search(out_prose)
        if not _CJK.search(out_prose):
            report.add("too_little_chinese", "no Chinese characters")
        elif run is not None:
            report.add("too_little_chinese", f"untranslated English: {run.group(0)[:60]!r}")
    entries = glossary.missing(seg.text, translation) if glossary is not None else [
        e for e in seg.glossary if (e.target if e.case_sensitive else e.target.lower())
        not in (translation if e.case_sensitive else translation.lower())
    ]
    for e in entries:
        report.add("glossary_term_missing", f"{e.source} -> {e.target}")
