"""What the translate pipeline hands to the store: one translation with all its segments (see docs/CONTRACTS.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["SegmentRecord", "TranslationRecord"]


@dataclass
class SegmentRecord:
    """One segment exactly as the model saw it and what came back."""

    segment_id: str
    source: str  # masked source text (placeholders instead of protected spans)
    prompt: str  # the full prompt sent to the engine
    output: str  # raw model output (masked)
    translation: str  # restored translation shown to the reader
    status: str  # "ok" | "retried" | "needs_review" | "fallback" | "memory" (docs/CONTRACTS.md "Segment statuses")
    reasons: list[str] = field(default_factory=list)
    placeholders: dict[str, str] = field(default_factory=dict)  # placeholder -> original bytes


@dataclass
class TranslationRecord:
    """One /translate call: everything needed to turn a later rating into training data."""

    id: str
    doc_hash: str
    model: str
    adapter: str | None = None  # adapter name; None = base model
    adapter_version: int | None = None
    prompt_template_version: str = "v1"
    glossary_version: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    segments: list[SegmentRecord] = field(default_factory=list)
