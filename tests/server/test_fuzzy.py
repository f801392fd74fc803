"""The fuzzy matcher of the review page's suggestions (server/fuzzy.py): the 70 % threshold on SequenceMatcher's
ratio, and a bounded number of comparisons per query however large the memory is."""

from __future__ import annotations

import random
from difflib import SequenceMatcher

from papertrans.server.fuzzy import MAX_COMPARED, THRESHOLD, FuzzyIndex, Remembered

WORDS = (
    "gradient descent converges when the learning rate is small enough for the convex loss surface we study "
    "attention weights sum to one over every key and the softmax keeps them positive in each layer"
).split()


def _entry(text: str, target: str = "译") -> Remembered:
    return Remembered(text, target, {}, "import")


def _sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def test_the_threshold_is_the_ratio_of_the_masked_sources() -> None:
    base = "The attention weights ⟦1⟧ sum to one over the keys."
    close = "The attention weights ⟦1⟧ sum to one over all keys."
    far = "Convolutions share weights ⟦1⟧ across the image."
    index = FuzzyIndex([_entry(far, "远"), _entry(close, "近")])
    match = index.best(base)
    assert match is not None and match.entry.target == "近"
    assert match.score == round(SequenceMatcher(None, base.lower(), close.lower(), autojunk=False).ratio(), 4)
    assert SequenceMatcher(None, base.lower(), far.lower()).ratio() < THRESHOLD
    assert FuzzyIndex([_entry(far)]).best(base) is None


def test_the_segments_own_translation_is_no_suggestion() -> None:
    text = "Weights ⟦1⟧ are learned."
    index = FuzzyIndex([_entry(text, "权重 ⟦1⟧ 是学到的。")])
    assert index.best(text) is not None
    assert index.best(text, exclude_target="权重 ⟦1⟧ 是学到的。") is None


def test_a_large_memory_costs_a_bounded_number_of_comparisons() -> None:
    rng = random.Random(7)
    entries = [_entry(_sentence(rng), f"t{i}") for i in range(6000)]
    planted = "Every ⟦1⟧ transformer block normalises ⟦2⟧ its inputs before the residual connection adds them back."
    entries.insert(3333, _entry(planted, "planted"))
    index = FuzzyIndex(entries)
    match = index.best(planted.replace("adds them back", "adds it back"))
    assert match is not None and match.entry.target == "planted" and match.score > 0.9
    assert 1 <= index.compared <= MAX_COMPARED
    for _ in range(20):  # queries made of the memory's own vocabulary: many shared trigrams, still bounded
        index.best(_sentence(rng))
        assert index.compared <= MAX_COMPARED
