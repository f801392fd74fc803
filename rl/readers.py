"""Simulated readers: documents of a parallel split translated through a running server, and readers' reactions.

A night of reader feedback at a volume you choose, for the loop's benchmark (``benchmarks/bench_loop.py``) and for
tests: each reader sends a document (one ``{en, zh}`` unit, e.g. ``tests/data/d2l_en_zh.jsonl`` or the mldocs train
split) to ``POST /translate`` and reacts to its segments the way readers do, through the public HTTP API
(:mod:`papertrans.clients`, as a browser or the review page would):

- **a correction** (``POST /feedback`` with the human translation of that segment and a thumbs down) where the output
  was flagged (status ``needs_review`` or ``fallback``) or reads badly (chrF on the words alone under
  ``correct_below``); a ``correct_share`` of such readers bother to correct, the others only thumb down;
- **a thumbs up or down** elsewhere, by ``thumbs_up_from``;
- **an A/B choice** on a ``compare_share`` of the segments: ``POST /comparisons`` (two variants, blind) and the
  choice (``a``, ``b`` or ``same``, by which is closer to the human translation);
- **noise**: a ``wrong_thumbs`` share of thumbs and a ``wrong_choices`` share of choices flipped; a "noise night"
  (:meth:`ReadersConfig.noise_night`) also gives every correction the human translation of *another* segment.

Units map to segments as training aligns parallel text (:func:`papertrans.rl.corpus.parallel_rows`): both sides go
through ``protect`` and English segment *i* pairs with Chinese segment *i* when counts, kinds and protected spans
agree; the server's segment of the same id (with the same source text) gets that reference, restored with its
placeholders, so a correction keeps every protected span (the server refuses one that does not). Segments that do not
align get no reaction (counted as ``unaligned``). Every random decision is drawn from a generator seeded by
``(seed, unit, segment)``, so a night is reproducible whatever order the server answers in.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from papertrans import protect
from papertrans.clients import ApiError, AsyncClient, SegmentResult, TranslateResult

from .corpus import parallel_rows
from .served_gate import words  # the words alone, scored as the served gate scores them

__all__ = ["Reaction", "ReadersConfig", "ReadersReport", "aligned_units", "read_night", "readers_help", "run_readers"]

_FLAGGED = ("needs_review", "fallback")
_BACKPRESSURE = (429, 503)  # the server's "not now": wait and send again


@dataclass
class ReadersConfig:
    """How many readers react, how, and how noisily; every field says what it does."""

    segments: int = field(
        default=200,
        metadata={
            "help": "Segments reacted to in the night (documents are taken until this many "
            "aligned segments are covered)."
        },
    )
    correct_below: float = field(
        default=35.0, metadata={"help": "Text-only chrF (0-100) under which an output reads badly: a correction."}
    )
    thumbs_up_from: float = field(
        default=45.0, metadata={"help": "Text-only chrF from which a reader gives a thumbs up (below: down)."}
    )
    correct_share: float = field(
        default=1.0,
        metadata={
            "help": "Share of the badly reading or flagged segments a reader corrects (the "
            "rest get a thumbs down only)."
        },
    )
    compare_share: float = field(
        default=0.1, metadata={"help": "Share of the segments that also get an A/B comparison (POST /comparisons)."}
    )
    compare_variants: list[str] | None = field(
        default=None,
        metadata={
            "help": "The two variants compared (e.g. ['current', 'papertrans-zh@1']); None: "
            "the server's choice. GSB counts are from the first one's side."
        },
    )
    same_within: float = field(
        default=2.0, metadata={"help": "chrF points within which a reader answers 'same' to a comparison."}
    )
    wrong_thumbs: float = field(
        default=0.0, metadata={"help": "Noise: share of thumbs given the wrong way round (0.5 = random thumbs)."}
    )
    wrong_choices: float = field(default=0.0, metadata={"help": "Noise: share of A/B choices (a or b) flipped."})
    shuffle_corrections: bool = field(
        default=False,
        metadata={
            "help": "Noise: each correction is the human translation of another segment "
            "(its words; this segment's protected spans kept, so the server takes it)."
        },
    )
    adapter: str | None = field(
        default=None,
        metadata={
            "help": "The adapter readers' documents are translated with (None: the server's default, what readers get)."
        },
    )
    concurrency: int = field(default=2, metadata={"help": "Documents in flight (the server's per-client limit is 4)."})
    seed: int = field(default=0, metadata={"help": "Seed of the document order and of every reader's decisions."})

    @classmethod
    def noise_night(cls, **overrides: Any) -> ReadersConfig:
        """A night whose feedback is noise: random thumbs and choices, shuffled corrections. The gate must refuse
        what it trains."""
        return replace(cls(**overrides), wrong_thumbs=0.5, wrong_choices=0.5, shuffle_corrections=True)


def readers_help() -> dict[str, str]:
    """Field name -> help text."""
    return {f.name: str(f.metadata.get("help", "")) for f in fields(ReadersConfig)}


@dataclass(frozen=True)
class Reaction:
    """What one reader did on one segment (``kind``: correction, up, down, comparison)."""

    kind: str
    unit: str
    translation_id: str
    segment_id: str
    status: str
    chrf: float
    wrong: bool = False  # noise: a flipped thumb or choice, a shuffled correction
    choice: str | None = None  # comparisons: a, b, same
    gsb: str | None = None  # comparisons: good / same / bad from the first variant's side


@dataclass
class ReadersReport:
    counts: dict[str, int]
    reactions: list[Reaction]

    def summary(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "reactions": len(self.reactions)}

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "reactions": [asdict(r) for r in self.reactions]}


@dataclass(frozen=True)
class _Segment:
    unit: str
    id: str
    source: str  # restored English of the segment (to check the server cut the same segment)
    reference: str  # the human translation, restored (placeholders replaced by the protected text)
    masked_reference: str
    placeholders: dict[str, str]


def _chrf(hyp: str, ref: str) -> float:
    from sacrebleu.metrics import CHRF  # type: ignore[attr-defined]

    return float(CHRF().sentence_score(words(hyp), [words(ref)]).score)


def _unit_id(unit: dict[str, Any], index: int) -> str:
    return str(unit.get("id", index))


def _segments_of(unit: dict[str, Any], index: int) -> list[_Segment]:
    rows, _ = parallel_rows([unit], style=None)
    doc = protect.protect(str(unit.get("en", unit.get("source", ""))))
    by_id = {s.id: s for s in doc.segments}
    out = []
    for row in rows:
        seg = by_id.get(row["meta"]["segment_id"])
        if seg is None:
            continue
        out.append(
            _Segment(
                _unit_id(unit, index),
                seg.id,
                protect.unmask(seg.text, seg.placeholders),
                protect.unmask(row["reference"], seg.placeholders),
                row["reference"],
                dict(seg.placeholders),
            )
        )
    return out


def aligned_units(units: Sequence[dict[str, Any]], segments: int, seed: int = 0) -> list[dict[str, Any]]:
    """Units in a seeded order, taken until their aligned segments reach ``segments`` (units without any are
    skipped): the documents a night's readers bring."""
    order = list(range(len(units)))
    random.Random(seed).shuffle(order)
    picked, covered = [], 0
    for i in order:
        if covered >= segments:
            break
        n = len(_segments_of(units[i], i))
        if n:
            picked.append(units[i])
            covered += n
    return picked


async def _translate(
    client: AsyncClient, markdown: str, adapter: str | None, gate: asyncio.Semaphore
) -> TranslateResult:
    async with gate:
        for attempt in range(30):
            try:
                return await client.translate(markdown, adapter=adapter)
            except ApiError as exc:
                if exc.status not in _BACKPRESSURE or attempt == 29:
                    raise
                await asyncio.sleep(min(2.0 * (attempt + 1), 10.0))
    raise AssertionError("unreachable")


def _sample(n: int, share: float, seed: int, what: str) -> set[int]:
    """Exactly ``round(share * n)`` of ``range(n)``, drawn with a seeded generator: shares are honoured exactly."""
    k = min(n, max(0, round(share * n)))
    return set(random.Random(f"{seed}:{what}").sample(range(n), k))


def _shuffled(segments: list[_Segment], seed: int) -> dict[tuple[str, str], str]:
    """A noise night's corrections: each segment gets the words of another segment's human translation (a
    derangement in a seeded order), followed by its own protected spans, so the server's placeholder check takes it."""
    order = list(segments)
    random.Random(f"{seed}:shuffle").shuffle(order)
    out: dict[tuple[str, str], str] = {}
    for k, seg in enumerate(order):
        other = order[(k + 1) % len(order)]
        text = other.masked_reference
        for token in other.placeholders:
            text = text.replace(token, " ")
        masked = " ".join([*text.split(), *seg.placeholders])
        out[(seg.unit, seg.id)] = protect.unmask(masked, seg.placeholders)
    return out


@dataclass
class _Plan:
    """One segment's reaction, decided before anything is sent."""

    seg: _Segment
    result: TranslateResult
    served: SegmentResult
    quality: float
    kind: str = "up"  # correction, up, down
    wrong: bool = False
    compare: bool = False


def _plan(cfg: ReadersConfig, picked: list[tuple[_Segment, TranslateResult, SegmentResult]]) -> list[_Plan]:
    plans = [_Plan(seg, res, srv, _chrf(srv.translation, seg.reference)) for seg, res, srv in picked]
    bad = [i for i, p in enumerate(plans) if p.served.status in _FLAGGED or p.quality < cfg.correct_below]
    corrected = {bad[j] for j in _sample(len(bad), cfg.correct_share, cfg.seed, "correct")}
    thumbs = [i for i in range(len(plans)) if i not in corrected]
    flipped = {thumbs[j] for j in _sample(len(thumbs), cfg.wrong_thumbs, cfg.seed, "thumbs")}
    for i, p in enumerate(plans):
        if i in corrected:
            p.kind = "correction"
            continue
        p.kind = "up" if i not in bad and p.quality >= cfg.thumbs_up_from else "down"
        if i in flipped:
            p.kind, p.wrong = ("down" if p.kind == "up" else "up"), True
    for i in _sample(len(plans), cfg.compare_share, cfg.seed, "compare"):
        plans[i].compare = True
    if cfg.shuffle_corrections and sum(p.kind == "correction" for p in plans) > 1:
        for p in plans:  # every correction gets another segment's translation (_shuffled)
            p.wrong = p.wrong or p.kind == "correction"
    return plans


async def _send_feedback(
    client: AsyncClient, cfg: ReadersConfig, plans: list[_Plan], counts: Counter[str]
) -> list[Reaction]:
    noisy = [p.seg for p in plans if p.kind == "correction"] if cfg.shuffle_corrections else []
    shuffled = _shuffled(noisy, cfg.seed) if len(noisy) > 1 else {}
    out = []
    for p in plans:  # in document order: the same night whatever order the server answered in
        tid, sid = p.result.translation_id, p.seg.id
        if p.kind == "correction":
            correction = shuffled.get((p.seg.unit, sid), p.seg.reference)
            try:
                await client.feedback(tid, sid, rating="down", correction=correction)
            except ApiError as exc:
                # 422: the human translation does not keep the segment's protected spans exactly once (it writes a
                # link or a formula its own way); the server refuses it, and the reader is left with a thumbs down
                if exc.status != 422:
                    raise
                counts["corrections_refused"] += 1
                p.kind, p.wrong = "down", False  # an honest thumbs down: the output was bad
                await client.feedback(tid, sid, rating="down")
        else:
            await client.feedback(tid, sid, rating=p.kind)
        out.append(Reaction(p.kind, p.seg.unit, tid, sid, p.served.status, round(p.quality, 2), p.wrong))
    return out


@dataclass
class _Shown:
    plan: _Plan
    id: str
    choice: str  # the honest one
    quality: float


async def _send_comparisons(
    client: AsyncClient, cfg: ReadersConfig, plans: list[_Plan], counts: Counter[str]
) -> list[Reaction]:
    shown: list[_Shown] = []
    for p in (p for p in plans if p.compare):
        try:
            cmp = await client.create_comparison(p.result.translation_id, p.seg.id, cfg.compare_variants)
        except ApiError as exc:
            if exc.status != 422:  # 422: a variant failed validation, the server offers no comparison
                raise
            counts["comparisons_refused"] += 1
            continue
        qa, qb = _chrf(cmp.a, p.seg.reference), _chrf(cmp.b, p.seg.reference)
        choice = "same" if abs(qa - qb) < cfg.same_within else ("a" if qa > qb else "b")
        shown.append(_Shown(p, cmp.id, choice, round(max(qa, qb), 2)))
    decisive = [i for i, s in enumerate(shown) if s.choice != "same"]
    flipped = {decisive[j] for j in _sample(len(decisive), cfg.wrong_choices, cfg.seed, "choices")}
    out = []
    for i, s in enumerate(shown):
        choice = {"a": "b", "b": "a"}[s.choice] if i in flipped else s.choice
        answer = await client.choose(s.id, choice)
        first = _first_label(cfg.compare_variants, s.plan.result)
        gsb = "same" if choice == "same" else ("good" if _is(str(answer[choice]), first) else "bad")
        counts[f"choice_{choice}"] += 1
        counts[gsb] += 1
        p = s.plan
        out.append(
            Reaction(
                "comparison",
                p.seg.unit,
                p.result.translation_id,
                p.seg.id,
                p.served.status,
                s.quality,
                i in flipped,
                choice,
                gsb,
            )
        )
    return out


def _first_label(variants: list[str] | None, result: TranslateResult) -> str:
    """How the server labels the first variant: "current" is the document's own adapter (``name@version``)."""
    spec = variants[0] if variants else "current"
    return str(result.adapter or "base") if spec == "current" else spec


def _is(label: str, spec: str) -> bool:
    return label == spec or ("@" not in spec and label.partition("@")[0] == spec)


def _pairs(
    units: list[dict[str, Any]], results: list[TranslateResult], budget: int, counts: Counter[str]
) -> list[tuple[_Segment, TranslateResult, SegmentResult]]:
    """(aligned segment, its document's result, the server's segment) for the first ``budget`` aligned segments."""
    picked: list[tuple[_Segment, TranslateResult, SegmentResult]] = []
    for i, (unit, result) in enumerate(zip(units, results, strict=True)):
        mine = {s.id: s for s in _segments_of(unit, i)}
        counts["segments_served"] += len(result.segments)
        for srv in result.segments:
            seg = mine.get(srv.id)
            if seg is None or srv.source.strip() != seg.source.strip():
                counts["unaligned"] += 1
            elif len(picked) < budget:
                picked.append((seg, result, srv))
    return picked


_KEYS = (
    "documents",
    "segments",
    "segments_served",
    "unaligned",
    "flagged",
    "corrections",
    "up",
    "down",
    "comparisons",
    "choice_a",
    "choice_b",
    "choice_same",
    "good",
    "same",
    "bad",
    "comparisons_refused",
    "corrections_refused",
    "wrong_thumbs",
    "wrong_choices",
    "shuffled_corrections",
)


async def read_night(client: AsyncClient, units: Sequence[dict[str, Any]], cfg: ReadersConfig) -> ReadersReport:
    """One night: translate the readers' documents (:func:`aligned_units`), react to ``cfg.segments`` segments.

    ``client`` needs no admin key (readers have none); an API key if the server asks for one."""
    docs = aligned_units(units, cfg.segments, cfg.seed)
    gate = asyncio.Semaphore(max(1, cfg.concurrency))
    results = list(await asyncio.gather(*(_translate(client, str(u["en"]), cfg.adapter, gate) for u in docs)))
    counts: Counter[str] = Counter(documents=len(docs))
    plans = _plan(cfg, _pairs(docs, results, cfg.segments, counts))
    reactions = await _send_feedback(client, cfg, plans, counts)
    comparisons = await _send_comparisons(client, cfg, plans, counts)
    for r in reactions:
        counts["corrections" if r.kind == "correction" else r.kind] += 1
        counts["wrong_thumbs"] += r.wrong and r.kind != "correction"
        counts["shuffled_corrections"] += r.wrong and r.kind == "correction"
    counts.update(
        segments=len(plans),
        comparisons=len(comparisons),
        flagged=sum(p.served.status in _FLAGGED for p in plans),
        wrong_choices=sum(r.wrong for r in comparisons),
    )
    return ReadersReport({k: int(counts.get(k, 0)) for k in _KEYS}, reactions + comparisons)


def run_readers(
    url: str,
    units: Sequence[dict[str, Any]],
    cfg: ReadersConfig,
    *,
    api_key: str | None = None,
    timeout: float = 3600.0,
) -> ReadersReport:
    """:func:`read_night` against the server at ``url`` (blocking; not from inside a running event loop)."""

    async def night() -> ReadersReport:
        async with AsyncClient(url, api_key=api_key, timeout=timeout) as client:
            return await read_night(client, units, cfg)

    return asyncio.run(night())
