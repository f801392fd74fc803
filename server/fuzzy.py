"""Fuzzy matches from the translation memory: for a masked source, the most similar remembered source (a
character-level ratio, ``difflib.SequenceMatcher``, on the masked texts) at or above a threshold (70 %, as CAT tools
default), shown to readers on the review page as a suggestion. Never put into a prompt: on the small model a similar
example in the prompt measured harmful (issue 21), so the memory reaches the engine only as an exact match.

The cost per query is bounded whatever the memory's size: candidates come from an inverted index of words, read
rarest word first under a budget of posting entries (:data:`POSTINGS_BUDGET`), filtered by the length band any match
at the threshold must lie in, and only the :data:`MAX_COMPARED` best by shared words are compared with
``SequenceMatcher``. A match that shares few of the query's rare words can be missed; one that scores 70 % on
characters shares most of them.
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
MAX_COMPARED = 12
#: At most this many posting entries are read per query (rarest words first).
POSTINGS_BUDGET = 5_000
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


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
    """The index keys of a normalised text: its distinct words (placeholder numbers included)."""
    return set(_WORD.findall(text))


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
        """The most similar entry at or above the threshold, or None. An entry whose target
        is ``exclude_target`` (the segment's own translation) suggests nothing new and is passed over."""
        text = _norm(masked_source)
        self.compared = 0
        if not text or not self.entries:
            return None
        candidates = self._candidates(text)
        self.compared = len(candidates)
        # quick_ratio bounds ratio from above: compare the most promising first and stop once no bound can win
        bounded: list[tuple[float, int, SequenceMatcher[str]]] = []
        for i in candidates:
            if exclude_target is not None and self.entries[i].target == exclude_target:
                continue
            matcher = SequenceMatcher(None, text, self._texts[i], autojunk=False)
            bound = matcher.quick_ratio()
            if bound >= self.threshold:
                bounded.append((bound, i, matcher))
        bounded.sort(key=lambda b: (-b[0], b[1]))
        best: Match | None = None
        for bound, i, matcher in bounded:
            if best is not None and bound <= best.score:
                break
            score = matcher.ratio()
            if score >= self.threshold and (best is None or score > best.score):
                best = Match(round(score, 4), self.entries[i])
        return best
