"""The promotion gate as readers get it: both sides translated by a running papertrans server, then judged.

The offline gate (:mod:`.gate`) generates raw and unconstrained, so one broken placeholder that the server would have
prevented (constrained decoding) or repaired (validation and the retry ladder) refuses a good candidate. Here each
side is whatever ``POST /translate`` returns for it, pinned by its versioned name (``name@version``): the
constraint, the ladder, the fallbacks, exactly as a reader would get them. The requests are ``evaluation``
translations (admin key): the translation memory is off for them (a held-out correction would otherwise be served
back verbatim) and nothing is recorded (no reader's, no training data).

Two held-out sets are judged (:mod:`.decision`): the readers' own domain (corrections on documents of the export's
eval split, never trained on) and the standing regression set (the starter's domain,
:func:`papertrans.contract.regression_set`). Scores are on the words alone (:func:`words`): the protected spans
(formulas, code, links, roles), which both sides carry through unchanged, would only inflate chrF.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import DataError, load_rows
from .decision import DomainDelta, GateVerdict, SideCounts, decide, paired_bootstrap

__all__ = ["EvalUnit", "Served", "eval_units", "load_units", "served_gate", "spread", "words"]

log = logging.getLogger(__name__)

_MARKDOWN_PUNCTUATION = re.compile(r"[#*_>|\[\]()!`~-]+")
_RETRY_STATUS = (429, 503)  # the server's backpressure: wait and send again


@dataclass(frozen=True)
class EvalUnit:
    id: str
    en: str  # Markdown, as a reader sends it
    zh: str  # the human translation (a reader's correction, or the corpus' Chinese)


@dataclass(frozen=True)
class Served:
    markdown: str
    segments: int
    fallbacks: int
    needs_review: int


def words(markdown: str) -> str:
    """The words alone: ``protect``'s protected spans (math, code, links, roles, HTML) and Markdown punctuation
    removed, whitespace collapsed. Applied to outputs and references alike."""
    from papertrans import protect

    texts = []
    for seg in protect.protect(markdown).segments:
        text = seg.text
        for token in seg.placeholders:
            text = text.replace(token, " ")
        texts.append(text)
    return " ".join(_MARKDOWN_PUNCTUATION.sub(" ", " ".join(texts)).split())


def eval_units(rows: Sequence[dict[str, Any]]) -> list[EvalUnit]:
    """Held-out units from parallel text (``{en, zh}`` / ``{source, target}``) or from exported rows that carry the
    reader's segment and correction (``meta.source_text`` / ``meta.reference_text``); other rows are skipped."""
    units = []
    for i, row in enumerate(rows):
        raw = row.get("meta")
        meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
        en, zh = row.get("en", row.get("source")), row.get("zh", row.get("target"))
        if not (isinstance(en, str) and isinstance(zh, str)):
            en, zh = meta.get("source_text"), meta.get("reference_text")
        if isinstance(en, str) and isinstance(zh, str) and en.strip() and zh.strip():
            ident = row.get("id") or f"{meta.get('translation_id', 'row')}:{meta.get('segment_id', i)}"
            units.append(EvalUnit(str(ident), en, zh))
    return units


def spread(units: list[EvalUnit], max_rows: int | None) -> list[EvalUnit]:
    """At most ``max_rows`` units spread over the list (files come in chapter or arrival order)."""
    if max_rows is None or len(units) <= max_rows:
        return units
    return units[:: len(units) // max_rows][:max_rows]


async def _translate(client: Any, unit: EvalUnit, adapter: str, gate: asyncio.Semaphore) -> Served:
    from papertrans.clients import ApiError

    async with gate:
        for attempt in range(30):
            try:
                result = await client.translate(unit.en, adapter=adapter, evaluation=True)
                break
            except ApiError as exc:
                if exc.status not in _RETRY_STATUS or attempt == 29:
                    raise
                await asyncio.sleep(2.0)
    return Served(result.markdown, len(result.segments), result.count("fallback"), result.count("needs_review"))


async def _side(client: Any, units: list[EvalUnit], adapter: str, label: str, concurrency: int) -> list[Served]:
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(unit: EvalUnit) -> Served:
        nonlocal done
        served = await _translate(client, unit, adapter, gate)
        done += 1
        if done % 10 == 0 or done == len(units):
            log.info("gate %s: %d/%d units through %s", label, done, len(units), adapter)
        return served

    return list(await asyncio.gather(*(one(u) for u in units)))


def _counts(served: list[Served]) -> SideCounts:
    return SideCounts(
        sum(s.segments for s in served), sum(s.fallbacks for s in served), sum(s.needs_review for s in served)
    )


async def _judge_set(
    client: Any, name: str, units: list[EvalUnit], candidate: str, baseline: str, concurrency: int, seed: int
) -> tuple[DomainDelta, list[dict[str, Any]]]:
    cand, base = await asyncio.gather(
        _side(client, units, candidate, f"{name}/candidate", concurrency),
        _side(client, units, baseline, f"{name}/baseline", concurrency),
    )
    refs = [words(u.zh) for u in units]
    delta = paired_bootstrap(
        name,
        [words(s.markdown) for s in cand],
        [words(s.markdown) for s in base],
        refs,
        seed=seed,
        candidate_counts=_counts(cand),
        baseline_counts=_counts(base),
    )
    rows = [
        {
            "set": name,
            "id": u.id,
            "source": u.en,
            "reference": u.zh,
            "candidate": c.markdown,
            "baseline": b.markdown,
            "fallbacks": [c.fallbacks, b.fallbacks],
        }
        for u, c, b in zip(units, cand, base, strict=True)
    ]
    return delta, rows


async def _run(
    server: str,
    admin_key: str | None,
    candidate: str,
    baseline: str,
    sets: dict[str, list[EvalUnit]],
    concurrency: int,
    seed: int,
) -> tuple[dict[str, DomainDelta], list[dict[str, Any]]]:
    from papertrans.clients import AsyncClient

    deltas: dict[str, DomainDelta] = {}
    rows: list[dict[str, Any]] = []
    async with AsyncClient(server, admin_key=admin_key, timeout=3600) as client:
        for name, units in sets.items():
            deltas[name], set_rows = await _judge_set(client, name, units, candidate, baseline, concurrency, seed)
            rows += set_rows
            log.info("gate %s", deltas[name].line())
    return deltas, rows


def served_gate(
    server: str,
    admin_key: str | None,
    *,
    candidate: str,
    baseline: str,
    new: tuple[str, list[EvalUnit]],
    old: tuple[str, list[EvalUnit]] | None,
    report_dir: Path,
    min_rows: int = 10,
    min_gain: float = 0.0,
    old_tolerance: float = 1.0,
    concurrency: int = 4,
    seed: int = 0,
) -> GateVerdict:
    """Translate both sets with ``candidate`` and ``baseline`` (served names: ``name@version``, or ``none`` for the
    base model), decide, and write ``gate.json`` (verdict, both intervals, summary lines) and ``outputs.jsonl``."""
    new_name, new_units = new
    sets = {new_name: new_units} if len(new_units) >= min_rows else {}
    if old is not None and old[1]:
        sets[old[0]] = old[1]
    if not sets:
        verdict = decide(None, None, min_gain=min_gain, old_tolerance=old_tolerance)
        deltas: dict[str, DomainDelta] = {}
        rows: list[dict[str, Any]] = []
    else:
        deltas, rows = asyncio.run(_run(server, admin_key, candidate, baseline, sets, concurrency, seed))
        verdict = decide(
            deltas.get(new_name), deltas.get(old[0]) if old else None, min_gain=min_gain, old_tolerance=old_tolerance
        )
    if len(new_units) < min_rows:
        verdict = GateVerdict(
            False,
            [f"too_few_heldout_rows[{new_name}]: {len(new_units)} < {min_rows}", *verdict.reasons],
            verdict.new,
            verdict.old,
            min_gain,
            old_tolerance,
        )
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "gate.json").write_text(
        json.dumps(
            {
                **verdict.as_dict(),
                "as_served": True,
                "server": server,
                "candidate": candidate,
                "baseline": baseline,
                "rows": {new_name: len(new_units), **({old[0]: len(old[1])} if old else {})},
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    with (report_dir / "outputs.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    for line in verdict.lines():
        log.info("gate: %s", line)
    return verdict


def load_units(path: Path) -> list[EvalUnit]:
    units = eval_units(load_rows(path))
    if not units:
        raise DataError(
            "empty_eval",
            f"{path} has no rows with a source and a human translation: the gate as served translates Markdown, so it "
            "needs parallel {en, zh} units or exported rows with meta.source_text / meta.reference_text",
        )
    return units
