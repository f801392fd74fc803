"""Translation rewards: plain typed functions ``(prompts, completions, **kw) -> list[float]``.

They follow TRL's reward-function convention, so ``GRPOTrainer`` can call them directly: every extra dataset column
arrives as a keyword argument holding one value per completion (``placeholders``, ``glossary``, ``reference``,
``source``). A reward that does not apply to a row (no reference for chrF, no glossary entry) returns ``nan`` for it,
which TRL treats as "not applicable" and :func:`translation_reward` skips.

Scales: each component is in ``[0, 1]``. :func:`translation_reward` combines them so that placeholder integrity is
dominant: any broken placeholder puts the total below ``-1``, under every output that keeps its placeholders, whatever
the other components say.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sacrebleu

from papertrans import protect

__all__ = [
    "DEFAULT_WEIGHTS",
    "RewardFunc",
    "chrf",
    "glossary_adherence",
    "length_ratio",
    "make_judge",
    "placeholder_errors",
    "placeholder_integrity",
    "repetition",
    "target_script",
    "translation_reward",
]

RewardFunc = Callable[..., list[float]]

_NAN = math.nan
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# Four or more English words in a row: an untranslated phrase or sentence, not a kept term such as "softmax".
_ENGLISH_RUN = re.compile(r"(?:\b[A-Za-z]{2,}\b[\s,;:]+){3,}\b[A-Za-z]{2,}\b")


def _column(kw: Mapping[str, Any], name: str, n: int) -> list[Any]:
    value = kw.get(name)
    if value is None:
        return [None] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def _text(completion: Any) -> str:
    # TRL passes strings for standard datasets and [{"role", "content"}] for conversational ones.
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def placeholder_errors(completion: str, expected: Sequence[str]) -> int:
    """Number of placeholder faults: each expected one missing or repeated, plus each invented one of the same shape."""
    return protect.check_inventory(completion, expected).faults


def placeholder_integrity(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
    """1.0 when every expected placeholder occurs exactly once and none is invented; falls with each fault.

    ``placeholders`` (list per row) is the inventory of the source segment; rows without one score 1.0 unless the
    completion is empty.
    """
    expected_rows = _column(kw, "placeholders", len(completions))
    scores = []
    for completion, expected in zip(completions, expected_rows, strict=True):
        text = _text(completion)
        inventory = list(expected or [])
        if not text.strip():
            scores.append(0.0)
            continue
        errors = placeholder_errors(text, inventory)
        scores.append(max(0.0, 1.0 - errors / max(1, len(inventory))) if errors else 1.0)
    return scores


def glossary_adherence(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
    """Share of the row's glossary targets found in the completion; ``nan`` when the row has no glossary entry."""
    glossary_rows = _column(kw, "glossary", len(completions))
    scores = []
    for completion, entries in zip(completions, glossary_rows, strict=True):
        pairs = [tuple(e) for e in (entries or [])]
        if not pairs:
            scores.append(_NAN)
            continue
        text = _text(completion)
        scores.append(sum(1 for _, target in pairs if target in text) / len(pairs))
    return scores


def _band_score(ratio: float, low: float, high: float) -> float:
    if low <= ratio <= high:
        return 1.0
    # Decays to 0 at half the lower bound and at twice the upper bound.
    if ratio < low:
        return max(0.0, (ratio - low / 2) / (low / 2))
    return max(0.0, 1.0 - (ratio - high) / high)


def length_ratio(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
    """Length sanity: 1.0 inside a plausible band, falling outside it.

    Against ``reference`` (Chinese) the band is 0.5-2.0 of its length; against ``source`` (English) it is 0.15-1.0
    characters per source character (Chinese needs far fewer characters). ``nan`` when neither is known.
    """
    refs = _column(kw, "reference", len(completions))
    sources = _column(kw, "source", len(completions))
    scores = []
    for completion, ref, src in zip(completions, refs, sources, strict=True):
        length = len(_text(completion).strip())
        if ref:
            scores.append(_band_score(length / max(1, len(ref)), 0.5, 2.0))
        elif src:
            scores.append(_band_score(length / max(1, len(src)), 0.15, 1.0))
        else:
            scores.append(_NAN)
    return scores


def target_script(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
    """Chinese-ness: share of Han characters among Han characters + English words (1.0 from 50 %), minus 0.25 per
    untranslated English run.

    Placeholders are removed first so masked formulas and code do not count as English.
    """
    expected_rows = _column(kw, "placeholders", len(completions))
    scores = []
    for completion, expected in zip(completions, expected_rows, strict=True):
        text = _text(completion)
        for placeholder in expected or []:
            text = text.replace(placeholder, " ")
        han = len(_CJK.findall(text))
        latin = len(_LATIN_WORD.findall(text))  # a word, not a letter, weighs like one Han character
        if han + latin == 0:
            scores.append(0.0)
            continue
        share = min(1.0, (han / (han + latin)) / 0.5)
        runs = len(_ENGLISH_RUN.findall(text))
        scores.append(max(0.0, share - 0.25 * runs))
    return scores


def _repeated_fraction(text: str, n: int) -> float:
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    if len(grams) < 2:
        return 0.0
    counts = Counter(grams)
    return sum(c - 1 for c in counts.values() if c > 1) / len(grams)


def repetition(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
    """1.0 without loops; lower as more of the text repeats (character 6-grams, whitespace-insensitive).

    Small base models fall into loops ("的模型的模型的模型…"); ordinary prose repeats few 6-grams.
    """
    scores = []
    for completion in completions:
        text = re.sub(r"\s+", "", _text(completion))
        fraction = _repeated_fraction(text, 6)
        # Up to 10 % repeated 6-grams is normal (terms, placeholders); all-repeated text scores 0.
        scores.append(max(0.0, min(1.0, 1.0 - (fraction - 0.1) / 0.5)))
    return scores


def chrf(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
    """Sentence chrF (0-1) against ``reference`` (e.g. a reader's correction); ``nan`` without a reference."""
    refs = _column(kw, "reference", len(completions))
    scores = []
    for completion, ref in zip(completions, refs, strict=True):
        if not ref:
            scores.append(_NAN)
            continue
        scores.append(sacrebleu.sentence_chrf(_text(completion), [ref]).score / 100.0)
    return scores


DEFAULT_WEIGHTS: dict[str, float] = {
    "chrf": 2.0,
    "glossary_adherence": 1.0,
    "target_script": 1.0,
    "repetition": 1.0,
    "length_ratio": 0.5,
}

_COMPONENTS: dict[str, RewardFunc] = {
    "chrf": chrf,
    "glossary_adherence": glossary_adherence,
    "target_script": target_script,
    "repetition": repetition,
    "length_ratio": length_ratio,
}


def translation_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    *,
    weights: Mapping[str, float] | None = None,
    judge: RewardFunc | None = None,
    judge_weight: float = 1.0,
    **kw: Any,
) -> list[float]:
    """The combined reward used for GRPO and for ranking online-DPO samples.

    Intact placeholders: the weighted mean of the applicable components, in ``[0, 1]``. Any placeholder fault:
    ``-1 - share of faults`` (in ``[-2, -1)``), so a broken placeholder always loses to an intact output.
    """
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    components = {name: fn(prompts, completions, **kw) for name, fn in _COMPONENTS.items() if weights.get(name)}
    if judge is not None:
        components["judge"] = judge(prompts, completions, **kw)
        weights["judge"] = judge_weight
    integrity = placeholder_integrity(prompts, completions, **kw)
    totals = []
    for i, intact in enumerate(integrity):
        if intact < 1.0:
            totals.append(-1.0 - (1.0 - intact))
            continue
        num = den = 0.0
        for name, values in components.items():
            value = values[i]
            if value is None or math.isnan(value):
                continue
            num += weights[name] * value
            den += weights[name]
        totals.append(num / den if den else 0.0)
    return totals


_SCORE = re.compile(r"(?<![\d.])(10|[0-9](?:\.\d+)?)(?![\d.])")


def make_judge(
    base_url: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    transport: Any = None,
) -> RewardFunc:
    """A judge reward that asks an OpenAI-compatible completions endpoint (e.g. ``vllm serve`` or the papertrans
    server's model) to rate each translation 0-10; returns ``score / 10``, or ``nan`` when no score can be parsed.

    ``source`` (the English segment) must be a dataset column. Optional and off by default: on CPU it costs one more
    generation per completion.
    """
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def judge(prompts: Sequence[Any], completions: Sequence[Any], **kw: Any) -> list[float]:
        sources = _column(kw, "source", len(completions))
        scores = []
        for completion, src in zip(completions, sources, strict=True):
            question = (
                "Rate the Chinese translation of the English text from 0 (wrong) to 10 (perfect).\n"
                f"English: {src or ''}\nChinese: {_text(completion)}\nScore:"
            )
            body: dict[str, Any] = {"prompt": question, "max_tokens": 4, "temperature": 0.0}
            if model:
                body["model"] = model
            response = client.post("/v1/completions", json=body)
            response.raise_for_status()
            text = str(response.json()["choices"][0]["text"])
            match = _SCORE.search(text)
            scores.append(float(match.group(1)) / 10.0 if match else _NAN)
        return scores

    return judge
