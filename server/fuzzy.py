"""Fuzzy matches from the translation memory: for a masked source, the most similar remembered source (a
character-level ratio, ``difflib.SequenceMatcher``, on the masked texts) at or above a threshold (70 %, as CAT tools
default), shown to readers on the review page as a suggestion. Never put into a prompt: on the small model a similar
example in the prompt measured harmful (issue 21), so the memory reaches the engine only as an exact match.

The cost per query is bounded whatever the memory's size: candidates come from an inverted index of character
trigrams, read rarest trigram first under a budget of posting entries (:data:`POSTINGS_BUDGET`), filtered by the
length band any match at the threshold must lie in, and only the :data:`MAX_COMPARED` best by shared trigrams are
compared with ``SequenceMatcher``. A match that shares few of the query's rare trigrams can be missed; one that
scores 70 % shares most of them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

__all__ = ["MAX_COMPARED", "POSTINGS_BUDGET", "THRESHOLD", "FuzzyIndex", "Match", "Remembered"]

THRESHOLD = 0.70
#: At most this many candidates per query are compared character by character.
MAX_COMPARED = 24
#: At most this many posting entries are read per query (rarest trigrams first).
POSTINGS_BUDGET = 20_000
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Remembered:
    """A remembered pair: masked source and target, its placeholders' protected text, where it came from."""

    source: str
    target: str
    placeholders: dict[str, str]
    origin: str  # "correction" | "import"


@dataclass(frozen=True)
class Match:
    score: float  # SequenceMatcher ratio of the normalised masked sources, 0..1
    entry: Remembered


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.strip().lower())


def _grams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class FuzzyIndex:
    """An immutable index over remembered pairs (build once per memory state; queries are read-only)."""

    def __init__(self, entries: Sequence[Remembered], threshold: float = THRESHOLD) -> None:
        self.entries = list(entries)
        self.threshold = threshold
        self._texts = [_norm(e.source) for e in self.entries]
        self._postings: dict[str, list[int]] = {}
        for i, text in enumerate(self._texts):
            for gram in _grams(text):
                self._postings.setdefault(gram, []).append(i)
        self.compared = 0  # candidates the last query compared with SequenceMatcher (what the cost bound is about)

    def __len__(self) -> int:
        return len(self.entries)

    def _candidates(self, text: str) -> list[int]:
        # A ratio 2M/(a+b) >= t needs M <= min(a, b), so b lies in [a*t/(2-t), a*(2-t)/t].
        low, high = len(text) * self.threshold / (2 - self.threshold), len(text) * (2 - self.threshold) / self.threshold
        shared: Counter[int] = Counter()
        budget = POSTINGS_BUDGET
        for gram in sorted(_grams(text), key=lambda g: len(self._postings.get(g, ()))):
            posting = self._postings.get(gram)
            if not posting:
                continue
            if len(posting) > budget:
                break
            budget -= len(posting)
            shared.update(posting)
        inside = [(n, i) for i, n in shared.items() if low <= len(self._texts[i]) <= high]
        inside.sort(key=lambda ni: (-ni[0], ni[1]))
        return [i for _, i in inside[:MAX_COMPARED]]

    def best(self, masked_source: str, *, exclude_target: str | None = None) -> Match | None:
        """The most similar entry at or above the threshold (ties: the earlier entry), or None. An entry whose target
        is ``exclude_target`` (the segment's own translation) suggests nothing new and is passed over."""
        text = _norm(masked_source)
        self.compared = 0
        if not text or not self.entries:
            return None
        best: Match | None = None
        candidates = self._candidates(text)
        self.compared = len(candidates)
        for i in candidates:
            entry = self.entries[i]
            if exclude_target is not None and entry.target == exclude_target:
                continue
            matcher = SequenceMatcher(None, text, self._texts[i], autojunk=False)
            if matcher.real_quick_ratio() < self.threshold or matcher.quick_ratio() < self.threshold:
                continue
            score = matcher.ratio()
            if score >= self.threshold and (best is None or score > best.score):
                best = Match(round(score, 4), entry)
        return best
