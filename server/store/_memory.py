"""Translation memory: readers' accepted corrections, found again by the masked source they correct, and the pairs
imported from TMX files (:mod:`.tm`).

Which answer wins: a reader's correction (under the request's glossary version) over an imported entry of the same
masked source, because it was made on this server's own output and checked by someone reading the paper; among
corrections, the newest. Imported entries match under any glossary version: they come from a CAT tool's memory,
where a term base never keys a match, and a translator approved them as they are; a correction is keyed by the
glossary it was made under because the output it corrects was produced with that glossary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ._db import Database
from ._models import Feedback, Segment, Translation
from .tm import TmEntries

__all__ = ["Correction", "Memory"]

_BATCH = 500  # bounded IN lists (SQLite's variable limit)


@dataclass(frozen=True)
class Correction:
    """The newest accepted correction of one masked source (any glossary version), with its placeholders."""

    source: str
    target: str
    placeholders: dict[str, str]
    created_at: datetime
    id: int


def _pair_query() -> Any:
    return (
        select(Segment.source, Feedback.correction_masked, Feedback.created_at, Feedback.id, Segment.placeholders)
        .join(
            Feedback, (Feedback.translation_id == Segment.translation_id) & (Feedback.segment_id == Segment.segment_id)
        )
        .join(Translation, Translation.id == Segment.translation_id)
        .where(Feedback.correction_masked.is_not(None))
    )


class Memory:
    """Reads corrections (``feedback.correction_masked``) joined with the segments they correct, and imported entries
    (``imported``: :class:`TmEntries`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.imported = TmEntries(db)

    async def lookup(self, sources: Sequence[str], glossary_version: str | None) -> dict[str, str]:
        """For each masked source, the newest accepted correction (masked) of a stored segment with exactly that
        source, translated under the same glossary version (None matches None); else an imported entry's target."""
        corrections = await self._corrections(sources, glossary_version)
        rest = [s for s in set(sources) if s not in corrections]
        imported = await self.imported.lookup(rest) if rest else {}
        return {**imported, **corrections}

    async def _corrections(self, sources: Sequence[str], glossary_version: str | None) -> dict[str, str]:
        wanted = sorted(set(sources))
        found: dict[str, tuple[datetime, int, str]] = {}
        same_glossary = (
            Translation.glossary_version.is_(None)
            if glossary_version is None
            else Translation.glossary_version == glossary_version
        )
        async with self.db.read() as session:
            for start in range(0, len(wanted), _BATCH):
                stmt = _pair_query().where(Segment.source.in_(wanted[start : start + _BATCH]), same_glossary)
                for source, correction, created, fid, _ in (await session.execute(stmt)).all():
                    if correction is not None and (source not in found or (created, fid) > found[source][:2]):
                        found[source] = (created, fid, correction)
        return {source: entry[2] for source, entry in found.items()}

    async def corrections(self) -> list[Correction]:
        """The newest correction of each masked source (over every glossary version), oldest first: what the
        memory's export and the fuzzy suggestions read."""
        found: dict[str, Correction] = {}
        async with self.db.read() as session:
            for source, target, created, fid, placeholders in (await session.execute(_pair_query())).all():
                old = found.get(source)
                if target is not None and (old is None or (created, fid) > (old.created_at, old.id)):
                    found[source] = Correction(source, target, dict(placeholders or {}), created, fid)
        return sorted(found.values(), key=lambda c: (c.created_at, c.id))

    async def stamp(self) -> tuple[int, ...]:
        """Changes whenever a correction is added or an entry imported (a cache's staleness check)."""
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(func.count(), func.max(Feedback.id)).where(Feedback.correction_masked.is_not(None))
                )
            ).one()
        return (int(row[0] or 0), int(row[1] or 0), *await self.imported.stamp())
