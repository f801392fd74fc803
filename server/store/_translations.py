"""Translations and their segments: written on the translate path (never failing it), read back by id.

A translation that cannot be written (the database is away) is kept in a bounded in-memory backlog and written,
oldest first, once the database answers again; failures are counted for ``/health`` and the app's metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from papertrans import protect

from ._db import Database, iso
from ._models import Feedback, Segment, Translation
from ._records import TranslationRecord
from .errors import RecordNotFound

__all__ = ["Translations"]

log = logging.getLogger(__name__)


def _feedback_view(f: Feedback) -> dict[str, Any]:
    return {
        "id": f.id,
        "rating": f.rating,
        "correction": f.correction,
        "comment": f.comment,
        "created_at": iso(f.created_at),
    }


def _segment_view(s: Segment, feedback: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "segment_id": s.segment_id,
        "source": s.source,
        "source_restored": protect.unmask(s.source, s.placeholders),
        "translation": s.translation,
        "output": s.output,
        "status": s.status,
        "reasons": s.reasons,
        "placeholders": s.placeholders,
        "feedback": feedback,
    }


class Translations:
    """Translation and segment rows, with the write backlog and its failure counters."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.write_failures = 0
        self.last_error: str | None = None
        # Set by the app to count failures in its own metrics registry.
        self.on_write_failure: Callable[[], None] | None = None
        # Bounded: beyond it the oldest are dropped and counted in ``backlog_dropped``.
        self.backlog: deque[TranslationRecord] = deque()
        self.backlog_max = 10_000
        self.backlog_dropped = 0

    async def flush_backlog(self) -> int:
        """Write the translations kept while the database was away (oldest first); stops at the first failure."""
        written = 0
        while self.backlog:
            rec = self.backlog[0]
            try:
                await self._insert(rec)
            except IntegrityError:
                if not await self._exists(rec.id):
                    return written
            except Exception:  # still away: keep them for the next try
                return written
            self.backlog.popleft()
            written += 1
        if written:
            log.info("store: wrote %d translation(s) kept while the database was away", written)
        return written

    async def record(self, rec: TranslationRecord) -> None:
        """Write one translation with its segments; never raises (failures are counted and shown in health)."""
        error: Exception | None = None
        for attempt in range(2):
            try:
                await self._insert(rec)
                if self.backlog:  # the database is back: write what waited
                    await self.flush_backlog()
                return
            except Exception as exc:  # a store failure must not fail the translation
                # The same id twice (a retried request) is fine: the first write stands.
                if isinstance(exc, IntegrityError) and await self._exists(rec.id):
                    return
                error = exc
            if attempt == 0:
                await asyncio.sleep(0.2)  # one retry: a transient lock or connection drop
        self._failed(rec, error)

    def _failed(self, rec: TranslationRecord, error: Exception | None) -> None:
        self.write_failures += 1
        self.last_error = f"record_translation {rec.id}: {type(error).__name__}: {error}"
        if len(self.backlog) >= self.backlog_max:
            self.backlog.popleft()
            self.backlog_dropped += 1
        self.backlog.append(rec)  # kept in memory; written when the database answers again
        if self.on_write_failure is not None:
            self.on_write_failure()  # e.g. the app's metrics counter (papertrans_store_failures)
        log.error("store: could not record translation %s: %s", rec.id, error)

    async def _exists(self, translation_id: str) -> bool:
        try:
            async with self.db.read() as session:
                return (await session.get(Translation, translation_id)) is not None
        except Exception:  # only used to classify a failure
            return False

    async def _insert(self, rec: TranslationRecord) -> None:
        async with self.db.write() as session, session.begin():
            session.add(
                Translation(
                    id=rec.id,
                    doc_hash=rec.doc_hash,
                    model=rec.model,
                    adapter=rec.adapter,
                    adapter_version=int(rec.adapter_version) if rec.adapter_version is not None else None,
                    prompt_template_version=rec.prompt_template_version,
                    glossary_version=rec.glossary_version,
                    settings=json.loads(json.dumps(rec.settings, default=str)),
                    created_at=rec.created_at,
                )
            )
            await session.flush()  # parent row first: PostgreSQL checks the foreign key per statement
            session.add_all(
                Segment(
                    translation_id=rec.id,
                    segment_id=s.segment_id,
                    position=i,
                    source=s.source,
                    prompt=s.prompt,
                    output=s.output,
                    translation=s.translation,
                    status=s.status,
                    reasons=list(s.reasons),
                    placeholders=dict(s.placeholders),
                )
                for i, s in enumerate(rec.segments)
            )

    async def get(self, translation_id: str) -> dict[str, Any]:
        """A translation with its segments and the feedback on each (:class:`RecordNotFound` when unknown)."""
        async with self.db.read() as session:
            tr = await session.get(Translation, translation_id)
            if tr is None:
                raise RecordNotFound("unknown_translation", f"no translation {translation_id!r}")
            segs = (
                await session.scalars(
                    select(Segment).where(Segment.translation_id == translation_id).order_by(Segment.position)
                )
            ).all()
            fb = (
                await session.scalars(
                    select(Feedback).where(Feedback.translation_id == translation_id).order_by(Feedback.id)
                )
            ).all()
        by_segment: dict[str, list[dict[str, Any]]] = {}
        for f in fb:
            by_segment.setdefault(f.segment_id, []).append(_feedback_view(f))
        return {
            "id": tr.id,
            "doc_hash": tr.doc_hash,
            "model": tr.model,
            "adapter": tr.adapter,
            "adapter_version": tr.adapter_version,
            "prompt_template_version": tr.prompt_template_version,
            "glossary_version": tr.glossary_version,
            "settings": tr.settings,
            "created_at": iso(tr.created_at),
            "segments": [_segment_view(s, by_segment.get(s.segment_id, [])) for s in segs],
        }

    async def segment(self, translation_id: str, segment_id: str) -> tuple[Translation, Segment]:
        """One stored segment with its translation (:class:`RecordNotFound` naming which is unknown)."""
        async with self.db.read() as session:
            tr = await session.get(Translation, translation_id)
            if tr is None:
                raise RecordNotFound("unknown_translation", f"no translation {translation_id!r}")
            seg = await session.scalar(
                select(Segment).where(Segment.translation_id == translation_id, Segment.segment_id == segment_id)
            )
            if seg is None:
                raise RecordNotFound("unknown_segment", f"translation {translation_id!r} has no segment {segment_id!r}")
            return tr, seg
