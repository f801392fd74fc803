"""The store's tables (SQLAlchemy 2 declarative). Schema changes go through a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "CachedOutputRow", "Comparison", "Feedback", "IdempotencyEntry", "Segment", "Translation"]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, list[str]: JSON, datetime: DateTime(timezone=True)
    }


class Translation(Base):
    __tablename__ = "translations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc_hash: Mapped[str] = mapped_column(String(128), index=True)
    model: Mapped[str] = mapped_column(String(512))
    adapter: Mapped[str | None] = mapped_column(String(256))
    adapter_version: Mapped[int | None] = mapped_column(Integer)
    prompt_template_version: Mapped[str] = mapped_column(String(64))
    glossary_version: Mapped[str | None] = mapped_column(String(128))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("translation_id", "segment_id", name="uq_segments_translation_segment"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    translation_id: Mapped[str] = mapped_column(ForeignKey("translations.id", ondelete="CASCADE"))
    segment_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    translation: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    placeholders: Mapped[dict[str, Any]] = mapped_column(JSON)


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_translation_segment", "translation_id", "segment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    translation_id: Mapped[str] = mapped_column(ForeignKey("translations.id", ondelete="CASCADE"))
    segment_id: Mapped[str] = mapped_column(String(64))
    rating: Mapped[str | None] = mapped_column(String(8))  # "up" | "down"
    correction: Mapped[str | None] = mapped_column(Text)  # as the reader wrote it (restored form)
    correction_masked: Mapped[str | None] = mapped_column(Text)  # same text with placeholders, for training
    comment: Mapped[str | None] = mapped_column(Text)
    who: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Comparison(Base):
    """Two variants of one segment shown side by side; ``a``/``b`` is the order the reader saw."""

    __tablename__ = "comparisons"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    translation_id: Mapped[str] = mapped_column(ForeignKey("translations.id", ondelete="CASCADE"), index=True)
    segment_id: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    a_label: Mapped[str] = mapped_column(String(256))  # e.g. "d2l@3", "base", "base:sample"
    a_adapter: Mapped[str | None] = mapped_column(String(256))
    a_adapter_version: Mapped[int | None] = mapped_column(Integer)
    a_output: Mapped[str] = mapped_column(Text)  # masked
    a_text: Mapped[str] = mapped_column(Text)  # restored
    b_label: Mapped[str] = mapped_column(String(256))
    b_adapter: Mapped[str | None] = mapped_column(String(256))
    b_adapter_version: Mapped[int | None] = mapped_column(Integer)
    b_output: Mapped[str] = mapped_column(Text)
    b_text: Mapped[str] = mapped_column(Text)
    choice: Mapped[str | None] = mapped_column(String(8))  # "a" | "b" | "same"
    who: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    chosen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyEntry(Base):
    """The first response to a write with an ``Idempotency-Key``; committed in the same transaction as the write."""

    __tablename__ = "idempotency"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CachedOutputRow(Base):
    """One segment's kept model output, found again by a hash of everything that produced it (migration 0004,
    :mod:`._cache`)."""

    __tablename__ = "output_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the key parts
    output: Mapped[str] = mapped_column(Text)  # masked, as the model wrote it (the kept attempt)
    prompt: Mapped[str] = mapped_column(Text)  # the kept attempt's prompt (recorded with the segment again)
    status: Mapped[str] = mapped_column(String(32))  # when it was made: ok | retried | needs_review (| answer)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(512))  # for inspection and pruning; the key already holds both
    adapter: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
