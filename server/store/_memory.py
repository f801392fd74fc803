"""Translation memory: readers' accepted corrections, found again by the masked source they correct."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from ._db import Database
from ._models import Feedback, Segment, Translation

__all__ = ["Memory"]

_BATCH = 500  # bounded IN lists (SQLite's variable limit)


class Memory:
    """Reads corrections (``feedback.correction_masked``) joined with the segments they correct."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def lookup(self, sources: Sequence[str], glossary_version: str | None) -> dict[str, str]:
        """For each masked source, the newest accepted correction (masked) of a stored segment with exactly that
        source, translated under the same glossary version (None matches None)."""
        wanted = sorted(set(sources))
        found: dict[str, tuple[datetime, int, str]] = {}
        same_glossary = (
            Translation.glossary_version.is_(None)
            if glossary_version is None
            else Translation.glossary_version == glossary_version
        )
        async with self.db.read() as session:
            for start in range(0, len(wanted), _BATCH):
                stmt = (
                    select(Segment.source, Feedback.correction_masked, Feedback.created_at, Feedback.id)
                    .join(Feedback, (Feedback.translation_id == Segment.translation_id)
                          & (Feedback.segment_id == Segment.segment_id))
                    .join(Translation, Translation.id == Segment.translation_id)
                    .where(Segment.source.in_(wanted[start : start + _BATCH]), Feedback.correction_masked.is_not(None),
                           same_glossary)
                )
                for source, correction, created, fid in (await session.execute(stmt)).all():
                    if correction is not None and (source not in found or (created, fid) > found[source][:2]):
                        found[source] = (created, fid, correction)
        return {source: entry[2] for source, entry in found.items()}
