"""Request and response bodies (msgspec structs: Litestar validates them and documents them in OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from papertrans.server.translator import TranslateInput

__all__ = [
    "ActivateBody",
    "GlossaryItem",
    "JobCreated",
    "RegisterBody",
    "SegmentOut",
    "TermOut",
    "TranslateBody",
    "TranslateResponse",
]

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class GlossaryItem(msgspec.Struct):
    source: NonEmpty
    target: NonEmpty


class TranslateBody(msgspec.Struct):
    """``POST /translate`` and ``POST /jobs``."""

    markdown: str
    adapter: Annotated[str, msgspec.Meta(min_length=1, max_length=140)] | None = None
    glossary: Annotated[list[GlossaryItem], msgspec.Meta(max_length=2000)] | None = None
    output: Literal["zh", "bilingual"] = "zh"
    # what stays as it is for this request (None: the server's translate.keep_* settings)
    keep_references: bool | None = None
    keep_authors: bool | None = None
    keep_captions: bool | None = None
    # An admin's measurement (the promotion gate): no translation memory, nothing recorded (X-Admin-Key; /translate)
    evaluation: bool = False

    def to_input(self) -> TranslateInput:
        pairs = [(g.source.strip(), g.target.strip()) for g in self.glossary or []]
        return TranslateInput(
            markdown=self.markdown,
            adapter=self.adapter,
            glossary=pairs,
            output=self.output,
            keep_references=self.keep_references,
            keep_authors=self.keep_authors,
            keep_captions=self.keep_captions,
        )


class SegmentOut(msgspec.Struct):
    id: str
    source: str
    translation: str
    status: Literal["ok", "retried", "needs_review", "fallback", "memory", "cached"]
    reasons: list[str]


class TermOut(msgspec.Struct):
    """One term of the document's terminology (docs/terminology.md): the translation enforced (None: no layer had
    one), its source layer, its occurrences in the document, how many of them the translation rendered with it and
    in how many segments the post-edit put it in."""

    term: str
    translation: str | None
    source: Literal["user", "term_base", "model", "none"]
    acronym: str | None
    occurrences: int
    consistent: int | None
    edited: int = 0  # segments whose translation the terms' post-edit changed for this term
    # other renderings the post-edit replaces by the translation (the model's answer for the term asked alone): a
    # reader reviewing the document glossary sees what was changed
    aliases: list[str] = msgspec.field(default_factory=list)


class TranslateResponse(msgspec.Struct):
    translation_id: str
    markdown: str
    segments: list[SegmentOut]
    stats: dict[str, Any]
    model: str
    adapter: str | None
    terminology: list[TermOut] = msgspec.field(default_factory=list)


class JobCreated(msgspec.Struct):
    id: str
    status: str


class RegisterBody(msgspec.Struct):
    folder: Annotated[str, msgspec.Meta(min_length=1, max_length=400)]


class ActivateBody(msgspec.Struct):
    version: Annotated[int, msgspec.Meta(ge=1)]
