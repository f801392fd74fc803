"""Imported translation memory (migration 0005): entries read from TMX files, keyed by their masked source.

An entry is what the exact-match memory needs (masked source → masked target) plus the protected text behind each
placeholder, so that it can be exported again as TMX and shown as a fuzzy suggestion. Importing an entry whose masked
source is already there replaces it (the newer file wins); ``source_hash`` makes the masked source unique, so two
imports writing the same source at once collide and the second gets :class:`StoreConflict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._db import Database, now
from .errors import StoreConflict

__all__ = ["TmEntries", "TmEntry", "source_hash"]

_BATCH = 500  # bounded IN lists (SQLite's variable limit)
_meta = sa.MetaData()
tm_entries = sa.Table(
    "tm_entries",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("placeholders", sa.JSON, nullable=False),
    sa.Column("length", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(256)),
    sa.Column("created", sa.String(32)),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)


def source_hash(masked_source: str) -> str:
    return hashlib.sha256(masked_source.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TmEntry:
    """One imported pair: masked source and target, and the protected text of each placeholder."""

    source: str
    target: str
    placeholders: dict[str, str] = field(default_factory=dict)
    origin: str | None = None
    created: str | None = None
    id: int | None = None


def _entry(row: Any) -> TmEntry:
    return TmEntry(row.source, row.target, dict(row.placeholders or {}), row.origin, row.created, row.id)


class TmEntries:
    """Reads and writes ``tm_entries``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, entries: Sequence[TmEntry]) -> tuple[int, int]:
        """Store ``entries`` in one transaction (a later one of the same masked source wins); returns
        ``(added, replaced)``: new sources, and sources that were there and now have the new target."""
        latest = {source_hash(e.source): e for e in entries}
        hashes = sorted(latest)
        stamp = now()
        try:
            async with self.db.write() as session, session.begin():
                replaced = 0
                for start in range(0, len(hashes), _BATCH):
                    part = hashes[start : start + _BATCH]
                    gone = await session.execute(sa.delete(tm_entries).where(tm_entries.c.source_hash.in_(part)))
                    replaced += int(getattr(gone, "rowcount", 0) or 0)
                rows = [_row(h, e, stamp) for h, e in latest.items()]
                for start in range(0, len(rows), _BATCH):
                    await session.execute(sa.insert(tm_entries), rows[start : start + _BATCH])
        except IntegrityError as exc:
            detail = "another import wrote the same entries at once; retry"
            raise StoreConflict("memory_import_conflict", detail) from exc
        return len(rows) - replaced, replaced

    async def lookup(self, sources: Sequence[str]) -> dict[str, str]:
        """Masked source → masked target for the sources that have an entry."""
        by_hash = {source_hash(s): s for s in set(sources)}
        wanted = sorted(by_hash)
        found: dict[str, str] = {}
        async with self.db.read() as session:
            for start in range(0, len(wanted), _BATCH):
                stmt = sa.select(tm_entries.c.source, tm_entries.c.target).where(
                    tm_entries.c.source_hash.in_(wanted[start : start + _BATCH])
                )
                for source, target in (await session.execute(stmt)).all():
                    found[source] = target
        return found

    async def all(self) -> list[TmEntry]:
        """Every entry, in import order."""
        async with self.db.read() as session:
            rows = (await session.execute(sa.select(tm_entries).order_by(tm_entries.c.id))).all()
        return [_entry(r) for r in rows]

    async def stamp(self) -> tuple[int, int]:
        """``(count, largest id)``: changes whenever entries are added or replaced (a cache's staleness check)."""
        async with self.db.read() as session:
            row = (await session.execute(sa.select(sa.func.count(), sa.func.max(tm_entries.c.id)))).one()
        return int(row[0] or 0), int(row[1] or 0)


def _row(digest: str, e: TmEntry, stamp: Any) -> dict[str, Any]:
    return {
        "source_hash": digest,
        "source": e.source,
        "target": e.target,
        "placeholders": dict(e.placeholders),
        "length": len(e.source),
        "origin": (e.origin or "")[:256] or None,
        "created": (e.created or "")[:32] or None,
        "imported_at": stamp,
    }
