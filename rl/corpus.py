"""Parallel text as training and held-out rows: ``{en, zh}`` or ``{source, target}`` units, as a user's translation
memory or a bilingual book would provide them.

Each unit goes through ``protect`` on both sides and is aligned segment by segment (:func:`aligned_reference`: same
segment count, same kind, same protected spans); a unit whose sides do not correspond is skipped and counted.
Prompts come from the serving prompt builder in the style the adapter will be served with, and the completion is the
masked Chinese segment written the way the server cuts an answer (no blank line inside, a blank line after), so what
is trained is exactly what is served.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from papertrans import protect
from papertrans.contract.prompts import FEWSHOT, CompletionOnly, build_prompt, one_item, prompt_style_of

from .datasets import DataError

__all__ = [
    "PARALLEL_KEYS",
    "CorpusReport",
    "aligned_reference",
    "is_parallel",
    "load_glossary",
    "parallel_rows",
    "side_prompts",
]

#: Column pairs recognised as parallel text, in order of preference.
PARALLEL_KEYS: tuple[tuple[str, str], ...] = (("en", "zh"), ("source", "target"))
_LETTERS = re.compile(r"[A-Za-z]{2,}")


@dataclass
class CorpusReport:
    """What the conversion kept and skipped (written into the training report)."""

    units: int = 0
    units_used: int = 0
    units_skipped_segment_count: int = 0  # the two sides protect into different numbers of segments
    units_skipped_no_pair: int = 0  # no segment of the unit aligned
    segments_skipped_misaligned: int = 0  # kind or protected spans differ, or an implausible length ratio
    segments_skipped_no_text: int = 0  # only placeholders/numbers: the server never sends these to a model
    segments_skipped_too_long: int = 0
    rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def aligned_reference(en: Any, zh: Any) -> str | None:
    """The Chinese segment's text with the English segment's placeholders (matched by the protected text), so that it
    is exactly what a perfect translation of the English segment looks like; None when they do not correspond."""
    if en.kind != zh.kind:
        return None
    by_text: dict[str, list[str]] = {}
    for key, original in en.placeholders.items():
        by_text.setdefault(original, []).append(key)
    rename: dict[str, str] = {}
    for key, original in zh.placeholders.items():  # inventories are in order of appearance on both sides
        keys = by_text.get(original)
        if not keys:
            return None
        rename[key] = keys.pop(0)
    if any(by_text.values()):
        return None
    return protect.unmask(str(zh.text), rename)


def _columns(row: dict[str, Any]) -> tuple[str, str] | None:
    for src, tgt in PARALLEL_KEYS:
        if isinstance(row.get(src), str) and isinstance(row.get(tgt), str):
            return src, tgt
    return None


def is_parallel(rows: Sequence[dict[str, Any]]) -> bool:
    """True when the rows are parallel text (every row has ``en``/``zh`` or ``source``/``target``) and not already
    prompts (export rows carry ``prompt`` and win)."""
    return bool(rows) and all("prompt" not in r and _columns(r) is not None for r in rows)


def load_glossary(spec: str | None) -> protect.Glossary | None:
    """``term=translation,term=translation`` or a glossary file (``protect.Glossary.load``); None when empty."""
    if not spec:
        return None
    from pathlib import Path

    path = Path(spec)
    try:
        if path.is_file():
            return protect.Glossary.load(path)
        pairs = [tuple(p.split("=", 1)) for p in spec.split(",") if "=" in p]
        return protect.Glossary.from_pairs([(a.strip(), b.strip()) for a, b in pairs]) if pairs else None
    except (ValueError, OSError) as exc:
        raise DataError("invalid_glossary", f"{spec}: {exc}") from exc


def parallel_rows(
    units: Iterable[dict[str, Any]],
    *,
    style: str | None,
    glossary: protect.Glossary | None = None,
    max_chars: int | None = None,
    split: str = "train",
) -> tuple[list[dict[str, Any]], CorpusReport]:
    """Rows with prompt, completion, source, reference (masked), placeholders, glossary and meta, one per aligned
    segment; and the report of what was skipped. ``max_chars`` drops longer English segments (training cost)."""
    engine = CompletionOnly()
    report = CorpusReport()
    rows: list[dict[str, Any]] = []
    for index, unit in enumerate(units):
        report.units += 1
        cols = _columns(unit)
        if cols is None:
            raise DataError("missing_columns", f"row {index}: parallel text needs en/zh or source/target strings")
        doc, zh_doc = protect.protect(unit[cols[0]], glossary), protect.protect(unit[cols[1]])
        if len(doc.segments) != len(zh_doc.segments):
            report.units_skipped_segment_count += 1
            continue
        kept = 0
        for seg, zh_seg in zip(doc.segments, zh_doc.segments, strict=True):
            bare = seg.text
            for key in seg.placeholders:
                bare = bare.replace(key, " ")
            if not _LETTERS.search(bare):
                report.segments_skipped_no_text += 1
                continue
            reference = aligned_reference(seg, zh_seg)
            # A Chinese segment is roughly 0.3-0.6x the English characters; far outside, the pair is misaligned.
            if reference is None or not 0.1 <= len(reference) / max(1, len(seg.text)) <= 1.2:
                report.segments_skipped_misaligned += 1
                continue
            if max_chars is not None and len(seg.text) > max_chars:
                report.segments_skipped_too_long += 1
                continue
            prompt, _ = build_prompt(engine, seg.text, context=[], title=None, heading_path=list(seg.heading_path),
                                     glossary_entries=list(seg.glossary), strict=False, style=style)
            target = one_item(reference)
            rows.append({
                "prompt": prompt,
                # The server cuts an answer at a blank line: the model must learn to end with one.
                "completion": target + "\n\n",
                "source": seg.text,
                "reference": target,
                "placeholders": list(seg.placeholders),
                "glossary": [[e.source, e.target] for e in seg.glossary],
                "meta": {"translation_id": None, "segment_id": seg.id, "doc_hash": str(unit.get("id", index)),
                         "adapter": None, "split": split},
            })
            kept += 1
        if kept:
            report.units_used += 1
        else:
            report.units_skipped_no_pair += 1
    report.rows = len(rows)
    return rows, report


def side_prompts(rows: Sequence[dict[str, Any]], style: str | None) -> list[str]:
    """Each row's prompt as a model served with ``style`` would see it: the row's own prompt when it was built with
    that style (or cannot be rebuilt: no ``source``), else rebuilt from its masked source and glossary. So a gate
    compares an adapter and the base model each on the prompt it is served with."""
    engine = CompletionOnly()
    wanted = style or FEWSHOT
    out = []
    for row in rows:
        prompt = str(row.get("prompt", ""))
        source = row.get("source")
        if (prompt and prompt_style_of(prompt) in (wanted, None)) or not isinstance(source, str) or not source:
            out.append(prompt)
            continue
        entries = [tuple(pair) for pair in row.get("glossary") or [] if len(pair) == 2]
        out.append(build_prompt(engine, source, glossary_entries=entries, style=wanted)[0])
    return out
