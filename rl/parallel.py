"""Rows in the export format from a parallel corpus (English/Chinese units such as ``d2l_en_zh.jsonl``).

Used to seed training, to build held-out gate sets, and by the loop benchmark to simulate readers. Prompts come from
``server.prompts.build_prompt`` (the serving prompt), so what is trained is exactly what is served. The reference is
the human Chinese with the must-preserve spans replaced by the same placeholders as the English segment; a unit is
skipped when that mapping is not exact (its span missing on the Chinese side) or when it is not a single segment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from .generate import _PromptEngine

__all__ = ["mask_reference", "rows_from_parallel", "split_units"]


def mask_reference(zh: str, placeholders: dict[str, str]) -> str | None:
    """Replace each protected span in the Chinese by its placeholder; None unless every span occurs exactly once."""
    masked = zh
    for placeholder, original in sorted(placeholders.items(), key=lambda kv: len(kv[1]), reverse=True):
        if masked.count(original) != 1:
            return None
        masked = masked.replace(original, placeholder)
    return masked


def split_units(units: Sequence[dict[str, Any]], eval_percent: int = 30) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stable train/eval split by a hash of the unit id (so reruns agree)."""
    train: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for unit in units:
        bucket = int(hashlib.sha256(str(unit["id"]).encode()).hexdigest(), 16) % 100
        (held if bucket < eval_percent else train).append(unit)
    return train, held


def rows_from_parallel(units: Iterable[dict[str, Any]], *, glossary: Any = None, split: str = "train",
                       max_chars: int = 600) -> list[dict[str, Any]]:
    """One row per single-segment unit: prompt, source, reference (masked), placeholders, glossary, meta."""
    import protect
    from server.prompts import build_prompt

    engine = _PromptEngine()
    rows = []
    for unit in units:
        doc = protect.protect(unit["en"], glossary)
        if len(doc.segments) != 1:
            continue
        seg = doc.segments[0]
        if len(seg.text) > max_chars:
            continue
        reference = mask_reference(unit["zh"], dict(seg.placeholders))
        if reference is None:
            continue
        prompt, _ = build_prompt(engine, seg.text, context=[], title=None, heading_path=list(seg.heading_path),
                                 glossary_entries=list(seg.glossary), strict=False)
        rows.append({
            "prompt": prompt,
            "source": seg.text,
            "reference": reference,
            "placeholders": list(seg.placeholders),
            "glossary": [[e.source, e.target] for e in seg.glossary],
            "meta": {"translation_id": None, "segment_id": seg.id, "doc_hash": unit["id"], "adapter": None,
                     "split": split},
        })
    return rows
