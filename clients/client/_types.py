"""Typed results of the HTTP API.

Each type is built from the server's JSON with ``from_json``, which ignores fields it does not know (so that a newer
server does not break an older client) and keeps the whole object in ``raw`` for anything not modelled here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Comparison",
    "Health",
    "Job",
    "SegmentResult",
    "TranslateResult",
    "TranslateStats",
    "glossary_payload",
]

JSON = dict[str, Any]

# Job states the server may report; anything else counts as "still running".
DONE_STATES = frozenset({"done", "completed", "complete", "succeeded", "success", "finished"})
FAILED_STATES = frozenset({"failed", "error", "errored", "cancelled", "canceled", "aborted"})


def _int(value: object, default: int = 0) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return default


def _float_or_none(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class SegmentResult:
    id: str
    source: str
    translation: str
    status: str  # "ok" | "retried" | "fallback"
    reasons: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentResult:
        return cls(
            id=str(data.get("id", data.get("segment_id", ""))),
            source=str(data.get("source", "")),
            translation=str(data.get("translation", "")),
            status=str(data.get("status", "ok")),
            reasons=[str(r) for r in data.get("reasons") or []],
        )


@dataclass(frozen=True)
class TranslateStats:
    segments: int = 0
    chunks: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    fallbacks: int = 0
    glossary_adherence: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TranslateStats:
        return cls(
            segments=_int(data.get("segments")),
            chunks=_int(data.get("chunks")),
            tokens_in=_int(data.get("tokens_in")),
            tokens_out=_int(data.get("tokens_out")),
            seconds=_float_or_none(data.get("seconds")) or 0.0,
            fallbacks=_int(data.get("fallbacks")),
            glossary_adherence=_float_or_none(data.get("glossary_adherence")),
        )


@dataclass(frozen=True)
class TranslateResult:
    markdown: str
    segments: list[SegmentResult]
    stats: TranslateStats
    translation_id: str | None
    model: str | None
    adapter: str | None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TranslateResult:
        return cls(
            markdown=str(data.get("markdown", "")),
            segments=[SegmentResult.from_json(s) for s in data.get("segments") or []],
            stats=TranslateStats.from_json(data.get("stats") or {}),
            translation_id=_str_or_none(data.get("translation_id")),
            model=_str_or_none(data.get("model")),
            adapter=_str_or_none(data.get("adapter")),
            raw=dict(data),
        )

    def count(self, status: str) -> int:
        return sum(1 for s in self.segments if s.status == status)


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    done: int
    total: int
    result: TranslateResult | None
    error: str | None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status.lower() in DONE_STATES

    @property
    def failed(self) -> bool:
        return self.status.lower() in FAILED_STATES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        progress = data.get("progress")
        prog: Mapping[str, Any] = progress if isinstance(progress, Mapping) else {}
        done = _int(prog.get("done", data.get("done", data.get("segments_done"))))
        total = _int(prog.get("total", data.get("total", data.get("segments_total"))))
        result = data.get("result")
        error = data.get("error")
        if isinstance(error, Mapping):  # {"error": {"code":..., "detail":...}}
            error = error.get("detail") or error.get("code") or str(error)
        return cls(
            id=str(data.get("id", data.get("job_id", ""))),
            status=str(data.get("status", data.get("state", "unknown"))),
            done=done,
            total=total,
            result=TranslateResult.from_json(result) if isinstance(result, Mapping) else None,
            error=_str_or_none(error or data.get("detail")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Health:
    status: str
    model: str | None
    adapters: list[Any]
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Health:
        adapters = data.get("adapters", data.get("active_adapters")) or []
        return cls(
            status=str(data.get("status", "unknown")),
            model=_str_or_none(data.get("model")),
            adapters=list(adapters) if isinstance(adapters, (list, tuple)) else [adapters],
            raw=dict(data),
        )


@dataclass(frozen=True)
class Comparison:
    """Two variants of the same source, in the (random) order the server chose."""

    id: str
    source: str
    a: str
    b: str
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def _variant_text(value: object) -> str:
        if isinstance(value, Mapping):
            for key in ("translation", "text", "markdown", "output"):
                if key in value:
                    return str(value[key])
        return "" if value is None else str(value)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        variants = data.get("variants")
        if isinstance(variants, list) and len(variants) >= 2:
            a, b = variants[0], variants[1]
        else:
            a, b = data.get("a", data.get("variant_a")), data.get("b", data.get("variant_b"))
        return cls(
            id=str(data.get("id", data.get("comparison_id", ""))),
            source=str(data.get("source", "")),
            a=cls._variant_text(a),
            b=cls._variant_text(b),
            raw=dict(data),
        )


GlossaryLike = Mapping[str, str] | list[tuple[str, str]] | list[dict[str, str]] | list[list[str]]


def glossary_payload(glossary: GlossaryLike | None) -> list[dict[str, str]] | None:
    """Normalise a glossary (mapping, pairs or ``{source, target}`` dicts) to the API's list of objects."""
    if glossary is None:
        return None
    if isinstance(glossary, Mapping):
        return [{"source": str(k), "target": str(v)} for k, v in glossary.items()]
    out: list[dict[str, str]] = []
    for entry in glossary:
        if isinstance(entry, Mapping):
            out.append({"source": str(entry["source"]), "target": str(entry["target"])})
        else:
            source, target = entry
            out.append({"source": str(source), "target": str(target)})
    return out
