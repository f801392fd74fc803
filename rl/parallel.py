"""Rows in the export format from a parallel corpus (English/Chinese units such as ``d2l_en_zh.jsonl``).

Used to seed training, to build held-out gate sets, and by the loop benchmark to simulate readers. Prompts come from
``server.prompts.build_prompt`` (the serving prompt), so what is trained is exactly what is served. Both sides of a
unit go through ``protect``; segment i of the English pairs with segment i of the Chinese when both sides have the
same number of segments, each pair is of the same kind (paragraph, caption, ...) and protects the same spans. The
reference is the Chinese segment with its placeholders renamed to the English segment's (matched by the protected
text), so it is exactly what a perfect translation of that segment would look like. Anything else is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from papertrans import protect

from .generate import _PromptEngine

__all__ = ["aligned_reference", "rows_from_parallel", "split_units"]


def aligned_reference(en: Any, zh: Any) -> str | None:
    """The Chinese segment's text with the English segment's placeholders; None when they do not correspond."""
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


def split_units(
    units: Sequence[dict[str, Any]], eval_percent: int = 30
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stable train/eval split by a hash of the unit id (so reruns agree)."""
    train: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for unit in units:
        bucket = int(hashlib.sha256(str(unit["id"]).encode()).hexdigest(), 16) % 100
        (held if bucket < eval_percent else train).append(unit)
    return train, held


def rows_from_parallel(units: Iterable[dict[str, Any]], *, glossary: Any = None, split: str = "train",
                       max_chars: int = 600) -> list[dict[str, Any]]:
    """One row per aligned segment: prompt, source, reference (masked), placeholders, glossary, meta."""
    from papertrans.server.engine.prompts import build_prompt

    engine = _PromptEngine()
    rows = []
    for unit in units:
        doc, zh_doc = protect.protect(unit["en"], glossary), protect.protect(unit["zh"])
        if len(doc.segments) != len(zh_doc.segments):
            continue
        for seg, zh_seg in zip(doc.segments, zh_doc.segments, strict=True):
            reference = aligned_reference(seg, zh_seg)
            # A Chinese segment is roughly 0.3-0.6x the English characters; far outside, the pair is misaligned.
            if reference is None or len(seg.text) > max_chars or not 0.1 <= len(reference) / len(seg.text) <= 1.2:
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
