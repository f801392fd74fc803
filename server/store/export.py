"""Export the store as training data in TRL's standard (non-conversational) formats (docs/CONTRACTS.md).

* ``sft``     ``{prompt, completion}``: corrections (masked), and outputs rated thumbs-up.
* ``kto``     ``{prompt, completion, label}``: thumbs; contradicting thumbs on one output are settled by majority
              (a tie drops the output).
* ``dpo``     ``{prompt, chosen, rejected}``: correction vs the model's output; A/B choices (``same`` gives no pair).
* ``prompts`` ``{prompt}``: every distinct prompt the engine saw, for online training (with ``reference`` when a
              reader corrected it).

A row from a segment the server kept as ``needs_review`` (a faithfulness check still failed after the retries) says
so in its ``meta`` (``needs_review: true``, ``review_reasons``): these are the outputs most worth a reader's correction
and the first training targets. The mark changes nothing else: a thumbs-up on such a segment is still a positive.

Prompts and completions are exactly what the engine saw and produced (masked: placeholders, not the protected spans),
so that a trainer learns the same task the server asks. Rows are deduplicated, and split into train/eval **by document**
(a hash of the document hash), so the same paper never lands on both sides.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from papertrans import protect

from ._models import Comparison, Feedback, Segment, Translation
from ._stats import adapter_label
from ._store import Store

__all__ = ["KINDS", "ExportResult", "export", "split_of", "write_jsonl"]

Kind = Literal["sft", "kto", "dpo", "prompts"]
KINDS: tuple[Kind, ...] = ("sft", "kto", "dpo", "prompts")
DEFAULT_EVAL_PERCENT = 10
NEEDS_REVIEW = "needs_review"  # the segment status (server/segments.py) that marks a row as a prime training target


@dataclass
class ExportResult:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def split_of(doc_hash: str, eval_percent: int = DEFAULT_EVAL_PERCENT) -> str:
    """``eval`` for a stable ``eval_percent`` share of documents, ``train`` for the rest."""
    bucket = int(hashlib.sha256(f"split:{doc_hash}".encode()).hexdigest()[:8], 16) % 100
    return "eval" if bucket < eval_percent else "train"


def _filters(stmt: Any, adapter: str | None) -> Any:  # Any: SQLAlchemy 2.1's Select is variadic-generic
    if adapter is None:
        return stmt
    if adapter == "base":
        return stmt.where(Translation.adapter.is_(None))
    name, _, version = adapter.partition("@")
    stmt = stmt.where(Translation.adapter == name)
    if version.isdigit():
        stmt = stmt.where(Translation.adapter_version == int(version))
    return stmt


def _row(tr: Translation, seg: Segment, split: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"prompt": seg.prompt, **fields}
    row["placeholders"] = list(seg.placeholders)
    glossary = tr.settings.get("glossary") if isinstance(tr.settings, dict) else None
    if isinstance(glossary, list):
        row["glossary"] = glossary
    row["meta"] = {
        "translation_id": tr.id,
        "segment_id": seg.segment_id,
        "doc_hash": tr.doc_hash,
        "adapter": adapter_label(tr.adapter, tr.adapter_version),
        "split": split,
        # in meta, which every trainer drops (rl/train.py keeps only the columns of its method): a flag, not a column
        "needs_review": seg.status == NEEDS_REVIEW,
        "review_reasons": list(seg.reasons) if seg.status == NEEDS_REVIEW else [],
    }
    return row


async def _feedback(
    store: Store, since: datetime | None, adapter: str | None
) -> list[tuple[Translation, Segment, Feedback]]:
    stmt = (
        select(Translation, Segment, Feedback)
        .join(Segment, Segment.translation_id == Translation.id)
        .join(
            Feedback,
            (Feedback.translation_id == Segment.translation_id) & (Feedback.segment_id == Segment.segment_id),
        )
        .order_by(Feedback.id)
    )
    if since is not None:
        stmt = stmt.where(Feedback.created_at >= since)
    async with store.read_session() as session:
        return [(r[0], r[1], r[2]) for r in (await session.execute(_filters(stmt, adapter))).all()]


def _sft(items: list[tuple[Translation, Segment, Feedback]], split: Any) -> tuple[list[dict[str, Any]], Counter[str]]:
    rows, sources = [], Counter[str]()
    for tr, seg, fb in items:
        if fb.correction_masked:
            rows.append(_row(tr, seg, split(tr), completion=fb.correction_masked, reference=fb.correction,
                             source="correction"))
        elif fb.rating == "up" and seg.status != "fallback" and seg.output.strip():
            rows.append(_row(tr, seg, split(tr), completion=seg.output, source="thumbs_up"))
    return rows, sources


def _kto(items: list[tuple[Translation, Segment, Feedback]], split: Any) -> tuple[list[dict[str, Any]], Counter[str]]:
    votes: dict[tuple[str, str], list[Any]] = {}
    for tr, seg, fb in items:
        if fb.rating not in ("up", "down") or not seg.output.strip():
            continue
        entry = votes.setdefault((seg.prompt, seg.output), [tr, seg, 0])
        entry[2] += 1 if fb.rating == "up" else -1
    rows, sources = [], Counter[str]()
    for tr, seg, score in votes.values():
        if score == 0:
            sources["dropped_tie"] += 1
            continue
        rows.append(_row(tr, seg, split(tr), completion=seg.output, label=score > 0))
        sources["desirable" if score > 0 else "undesirable"] += 1
    return rows, sources


def _dpo_corrections(items: list[tuple[Translation, Segment, Feedback]], split: Any) -> list[dict[str, Any]]:
    return [
        _row(
            tr, seg, split(tr), chosen=fb.correction_masked, rejected=seg.output, reference=fb.correction,
            source="correction",
        )
        for tr, seg, fb in items
        if fb.correction_masked and fb.correction_masked.strip() != seg.output.strip()
    ]


async def _dpo_choices(
    store: Store, since: datetime | None, adapter: str | None, split: Any
) -> list[dict[str, Any]]:
    stmt = (
        select(Translation, Segment, Comparison)
        .join(Comparison, Comparison.translation_id == Translation.id)
        .join(
            Segment,
            (Segment.translation_id == Comparison.translation_id) & (Segment.segment_id == Comparison.segment_id),
        )
        .where(Comparison.choice.in_(("a", "b")))
        .order_by(Comparison.created_at)
    )
    if since is not None:
        stmt = stmt.where(Comparison.chosen_at >= since)
    async with store.read_session() as session:
        found = (await session.execute(_filters(stmt, adapter))).all()
    rows = []
    for tr, seg, cmp in found:
        win, lose = (cmp.a_output, cmp.b_output) if cmp.choice == "a" else (cmp.b_output, cmp.a_output)
        if win.strip() == lose.strip() or not win.strip():
            continue
        row = _row(tr, seg, split(tr), chosen=win, rejected=lose, source="ab")
        row["prompt"] = cmp.prompt
        rows.append(row)
    return rows


async def _prompts(store: Store, since: datetime | None, adapter: str | None, split: Any) -> list[dict[str, Any]]:
    stmt = select(Translation, Segment).join(Segment, Segment.translation_id == Translation.id)
    if since is not None:
        stmt = stmt.where(Translation.created_at >= since)
    stmt = stmt.order_by(Translation.created_at, Segment.position)
    async with store.read_session() as session:
        found = (await session.execute(_filters(stmt, adapter))).all()
        corrections = {
            (f.translation_id, f.segment_id): (f.correction_masked, f.correction)
            for f in (await session.scalars(select(Feedback).where(Feedback.correction_masked.is_not(None)))).all()
        }
    rows = []
    for tr, seg in found:
        row = _row(tr, seg, split(tr))
        masked, text = corrections.get((tr.id, seg.segment_id), (None, None))
        if masked:
            row["reference"] = masked
            # the segment and its correction as a reader sees them (placeholders restored): what the promotion gate
            # translates through the server and scores (rl/served_gate.py)
            row["meta"]["source_text"] = protect.unmask(seg.source, seg.placeholders)
            row["meta"]["reference_text"] = text or protect.unmask(masked, seg.placeholders)
        rows.append(row)
    return rows


def _dedupe(rows: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for row in rows:
        k = tuple(row.get(key) for key in keys)
        if k in seen:
            continue
        seen.add(k)
        out.append(row)
    return out


def _kto_weights(desirable: int, undesirable: int) -> dict[str, float]:
    """Weights that balance the two classes (TRL suggests desirable_weight*n_d / (undesirable_weight*n_u) in
    [1, 4/3]); the minority class is up-weighted so that the weighted counts match."""
    if not desirable or not undesirable:
        return {"desirable_weight": 1.0, "undesirable_weight": 1.0}
    if desirable >= undesirable:
        return {"desirable_weight": 1.0, "undesirable_weight": round(desirable / undesirable, 4)}
    return {"desirable_weight": round(undesirable / desirable, 4), "undesirable_weight": 1.0}


async def export(
    store: Store,
    kind: Kind,
    *,
    since: datetime | None = None,
    adapter: str | None = None,
    split: Literal["train", "eval", "all"] = "all",
    eval_percent: int = DEFAULT_EVAL_PERCENT,
) -> ExportResult:
    """Rows of one kind (deduplicated, split by document) and a summary with the class balance."""
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")

    def split_for(tr: Translation) -> str:
        return split_of(tr.doc_hash, eval_percent)

    sources: Counter[str] = Counter()
    dedupe_keys: tuple[str, ...]
    if kind == "prompts":
        rows, dedupe_keys = await _prompts(store, since, adapter, split_for), ("prompt",)
    else:
        items = await _feedback(store, since, adapter)
        if kind == "sft":
            rows, sources = _sft(items, split_for)
            dedupe_keys = ("prompt", "completion")
        elif kind == "kto":
            rows, sources = _kto(items, split_for)
            dedupe_keys = ("prompt", "completion", "label")
        else:
            rows = _dpo_corrections(items, split_for) + await _dpo_choices(store, since, adapter, split_for)
            dedupe_keys = ("prompt", "chosen", "rejected")
    before = len(rows)
    rows = _dedupe(rows, dedupe_keys)
    duplicates = before - len(rows)
    if kind in ("dpo", "sft"):  # counted after dedupe
        sources = Counter(r.pop("source") for r in rows)
    if split != "all":
        rows = [r for r in rows if r["meta"]["split"] == split]
    summary: dict[str, Any] = {
        "kind": kind,
        "rows": len(rows),
        "duplicates_removed": duplicates,
        "split": dict(Counter(r["meta"]["split"] for r in rows)),
        "documents": len({r["meta"]["doc_hash"] for r in rows}),
        "sources": dict(sources),
        "needs_review": sum(1 for r in rows if r["meta"]["needs_review"]),
    }
    if kind == "kto":
        d = sum(1 for r in rows if r["label"])
        u = len(rows) - d
        summary["desirable"], summary["undesirable"] = d, u
        summary["suggested"] = _kto_weights(d, u)
    return ExportResult(rows=rows, summary=summary)


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """Write rows as UTF-8 JSON lines (atomically: a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n
