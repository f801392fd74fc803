"""Typed results of the HTTP API, read from exactly the shapes the server sends.

The shapes are the server's (``server/pipeline.py`` ``TranslationResult.public``, ``server/jobs.py``
``Job.summary``, ``server/routes/health.py``, ``server/store`` ``comparison_view``; see ``docs/CONTRACTS.md``).
Each ``from_json`` reads the keys it needs by name: an answer without them is not a papertrans answer, and the client
turns the ``KeyError``/``TypeError`` into a ``ClientError`` that names the request. Keys a newer server adds are
ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Comparison",
    "GlossaryLike",
    "Health",
    "Job",
    "SegmentResult",
    "TermResult",
    "TranslateResult",
    "TranslateStats",
    "glossary_payload",
]

JSON = dict[str, Any]


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SegmentResult:
    id: str
    source: str
    translation: str
    status: str  # "ok" | "retried" | "needs_review" | "fallback" | "memory" | "cached" (docs/CONTRACTS.md)
    reasons: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentResult:
        return cls(
            id=str(data["id"]),
            source=str(data["source"]),
            translation=str(data["translation"]),
            status=str(data["status"]),
            reasons=[str(r) for r in data["reasons"]],
        )


@dataclass(frozen=True)
class TermResult:
    """One term of the document's terminology (docs/terminology.md): the translation the server enforced (None: no
    layer had one), its ``source`` layer (``user``, ``term_base``, ``model``, ``none``), its occurrences in the
    document and how many of them the translation rendered with it (None without a translation)."""

    term: str
    translation: str | None
    source: str
    acronym: str | None = None
    occurrences: int = 0
    consistent: int | None = None
    edited: int = 0  # segments whose translation the server's post-edit changed for this term
    aliases: tuple[str, ...] = ()  # the other renderings the post-edit replaced by the translation

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TermResult:
        translation, acronym, consistent = data["translation"], data.get("acronym"), data.get("consistent")
        return cls(
            term=str(data["term"]),
            translation=None if translation is None else str(translation),
            source=str(data["source"]),
            acronym=None if acronym is None else str(acronym),
            occurrences=int(data.get("occurrences", 0)),
            consistent=None if consistent is None else int(consistent),
            edited=int(data.get("edited", 0)),
            aliases=tuple(str(a) for a in data.get("aliases", ())),
        )


@dataclass(frozen=True)
class TranslateStats:
    segments: int = 0
    chunks: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    fallbacks: int = 0
    retries: int = 0
    glossary_adherence: float | None = None  # None without a glossary
    term_consistency: float | None = None  # share of the terms' occurrences with their chosen translation
    verbatim_blocks: int = 0  # parts kept as they are (references, byline, captions): no model call
    cached: int = 0  # segments the server's output cache answered (no model call)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TranslateStats:
        return cls(
            segments=int(data["segments"]),
            chunks=int(data["chunks"]),
            tokens_in=int(data["tokens_in"]),
            tokens_out=int(data["tokens_out"]),
            seconds=float(data["seconds"]),
            fallbacks=int(data["fallbacks"]),
            retries=int(data["retries"]),
            glossary_adherence=_float_or_none(data["glossary_adherence"]),
            term_consistency=_float_or_none(data.get("term_consistency")),  # absent before issue 21
            verbatim_blocks=int(data.get("verbatim_blocks", 0)),  # absent from servers before issue 21
            cached=int(data.get("cached", 0)),  # absent from servers before the output cache
        )


@dataclass(frozen=True)
class TranslateResult:
    """The answer of ``POST /translate``, and a finished job's ``result``."""

    translation_id: str
    markdown: str
    segments: list[SegmentResult]
    stats: TranslateStats
    model: str
    adapter: str | None  # the served (versioned) name, e.g. ``d2l@2``; None = base model
    terminology: list[TermResult] = field(default_factory=list)  # empty from servers before issue 21

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TranslateResult:
        return cls(
            translation_id=str(data["translation_id"]),
            markdown=str(data["markdown"]),
            segments=[SegmentResult.from_json(s) for s in data["segments"]],
            stats=TranslateStats.from_json(data["stats"]),
            model=str(data["model"]),
            adapter=None if data["adapter"] is None else str(data["adapter"]),
            terminology=[TermResult.from_json(t) for t in data.get("terminology", [])],
        )

    def count(self, status: str) -> int:
        return sum(1 for s in self.segments if s.status == status)

    def document_glossary(self) -> list[tuple[str, str]]:
        """The document's terminology as ``(term, translation)`` pairs (terms with a translation): what
        ``translate --export-terms`` writes, and a glossary to pass back, edited, with the next request."""
        return [(t.term, t.translation) for t in self.terminology if t.translation is not None]


@dataclass(frozen=True)
class Job:
    """``GET /jobs/{id}``: ``status`` is ``queued``, ``running``, ``done`` or ``failed``."""

    id: str
    status: str
    done: int
    total: int  # 0 until the job has cut the document into segments
    result: TranslateResult | None  # set when done
    error: str | None  # the server's detail (else its code) when failed
    error_code: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == "done"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def ended(self) -> bool:
        return self.finished or self.failed

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        progress = data["progress"]
        error = data["error"]  # None, or the server's {"error": code, "detail": ...}
        result = data["result"]
        return cls(
            id=str(data["id"]),
            status=str(data["status"]),
            done=int(progress["done"]),
            total=int(progress["total"] or 0),
            result=None if result is None else TranslateResult.from_json(result),
            error=None if error is None else str(error.get("detail") or error["error"]),
            error_code=None if error is None else str(error["error"]),
        )


@dataclass(frozen=True)
class Health:
    """``GET /health``: ``status`` is ``ok`` or ``degraded``; ``adapters`` maps each name to its active served name;
    ``default_adapter`` is the adapter requests that name none are served with (None = the base model)."""

    status: str
    model: str
    adapters: dict[str, str | None]
    engine: JSON
    store: JSON | None
    default_adapter: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Health:
        return cls(
            status=str(data["status"]),
            model=str(data["model"]),
            adapters=dict(data["adapters"]),
            engine=dict(data["engine"]),
            store=None if data["store"] is None else dict(data["store"]),
            default_adapter=None if data.get("default_adapter") is None else str(data["default_adapter"]),
        )


@dataclass(frozen=True)
class Comparison:
    """Two variants of the same segment, in the (random) order the server chose; labels come with the choice."""

    id: str
    a: str
    b: str
    source: str | None  # the restored source segment (absent from an idempotent replay of the request)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        source = data.get("source")
        return cls(
            id=str(data["id"]),
            a=str(data["a"]["text"]),
            b=str(data["b"]["text"]),
            source=None if source is None else str(source),
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
