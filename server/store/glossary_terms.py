"""Glossary terms mined from readers' corrections (migration 0006): the admin's decisions on the proposals.

A proposal (``server.reader_terms``) is computed from the corrections each time it is asked for; what is stored is
only a decision: ``accepted`` (enforced in every ``/translate``, under the request's own glossary) or ``rejected``
(never proposed again). One row per source term (``source_key``: the term lower-cased, spaces collapsed); deciding
again replaces the row, so rejecting an accepted term stops enforcing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from ._db import Database, iso, now
from ._models import Feedback, Segment

__all__ = ["CorrectedSegment", "GlossaryTerm", "GlossaryTerms", "source_key"]

Decision = Literal["accepted", "rejected"]
_meta = sa.MetaData()
glossary_terms = sa.Table(
    "glossary_terms",
    _meta,
    sa.Column("source_key", sa.String(500), primary_key=True),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("target", sa.String(500), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("support", sa.Integer, nullable=False),
    sa.Column("who", sa.String(128)),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)


def source_key(term: str) -> str:
    return " ".join(term.lower().split())


@dataclass(frozen=True)
class GlossaryTerm:
    source: str
    target: str
    status: str
    support: int
    who: str | None = None
    decided_at: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "status": self.status,
            "support": self.support,
            "who": self.who,
            "decided_at": self.decided_at,
        }


@dataclass(frozen=True)
class CorrectedSegment:
    """One reader's correction with what it corrected: all masked (placeholders, not the protected spans)."""

    source: str
    output: str
    correction: str


def _term(row: Any) -> GlossaryTerm:
    return GlossaryTerm(row.source, row.target, row.status, int(row.support), row.who, iso(row.decided_at))


class GlossaryTerms:
    """Reads and writes ``glossary_terms``; reads the corrections the proposals are mined from."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def decide(
        self, source: str, target: str, status: Decision, *, support: int, who: str | None = None
    ) -> GlossaryTerm:
        key, spelled, target, when = source_key(source), " ".join(source.split()), target.strip(), now()
        row = {
            "source_key": key,
            "source": spelled,
            "target": target,
            "status": status,
            "support": support,
            "who": who,
            "decided_at": when,
        }
        async with self.db.write() as session, session.begin():
            await session.execute(sa.delete(glossary_terms).where(glossary_terms.c.source_key == key))
            await session.execute(sa.insert(glossary_terms), [row])
        return GlossaryTerm(spelled, target, status, support, who, iso(when))

    async def all(self) -> list[GlossaryTerm]:
        async with self.db.read() as session:
            rows = (await session.execute(sa.select(glossary_terms).order_by(glossary_terms.c.source_key))).all()
        return [_term(r) for r in rows]

    async def accepted(self) -> list[tuple[str, str]]:
        """``(source, target)`` of every accepted term: what ``/translate`` enforces."""
        stmt = sa.select(glossary_terms.c.source, glossary_terms.c.target).where(glossary_terms.c.status == "accepted")
        async with self.db.read() as session:
            return [(str(s), str(t)) for s, t in (await session.execute(stmt.order_by(glossary_terms.c.source_key)))]

    async def corrections(self, limit: int = 20000) -> list[CorrectedSegment]:
        """The newest ``limit`` corrections with the segment source and model output they replaced."""
        stmt = (
            sa.select(Segment.source, Segment.output, Feedback.correction_masked)
            .join(
                Feedback,
                (Feedback.translation_id == Segment.translation_id) & (Feedback.segment_id == Segment.segment_id),
            )
            .where(Feedback.correction_masked.is_not(None))
            .order_by(Feedback.id.desc())
            .limit(limit)
        )
        async with self.db.read() as session:
            rows = (await session.execute(stmt)).all()
        return [CorrectedSegment(str(s), str(o or ""), str(c)) for s, o, c in rows]
