"""The output cache's table (migration 0004): a segment's kept model output by the key that produced it.

The key is computed by the pipeline (:mod:`papertrans.server.output_cache`): a sha256 over everything the output
depends on, so that a change of model, adapter version, prompt, glossary or sampling misses by construction. This
repository only stores and finds rows by key; it never decides what may be cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from ._db import Database, now
from ._models import CachedOutputRow

__all__ = ["CachedOutput", "OutputCacheTable"]

_BATCH = 500  # bounded IN lists (SQLite's variable limit)


@dataclass(frozen=True)
class CachedOutput:
    """A kept outcome of one segment: its masked output, the prompt of the attempt that wrote it, its status then
    (ok | retried | needs_review) and reasons; or one plain request's answer (status ``answer``)."""

    output: str
    prompt: str
    status: str
    reasons: list[str] = field(default_factory=list)


class OutputCacheTable:
    """Rows of ``output_cache``: :meth:`get` many keys at once (counting hits), :meth:`put` new ones."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, keys: Sequence[str]) -> dict[str, CachedOutput]:
        """The stored outputs of those of ``keys`` that are present; their ``hits`` go up by one."""
        wanted = sorted(set(keys))
        found: dict[str, CachedOutput] = {}
        async with self.db.read() as session:
            for start in range(0, len(wanted), _BATCH):
                stmt = select(CachedOutputRow).where(CachedOutputRow.key.in_(wanted[start : start + _BATCH]))
                for row in (await session.scalars(stmt)).all():
                    found[row.key] = CachedOutput(row.output, row.prompt, row.status, list(row.reasons or []))
        if found:
            await self._count_hits(sorted(found))
        return found

    async def _count_hits(self, keys: list[str]) -> None:
        async with self.db.write() as session, session.begin():
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                hit = update(CachedOutputRow).where(CachedOutputRow.key.in_(batch))
                await session.execute(hit.values(hits=CachedOutputRow.hits + 1))

    async def put(self, entries: Sequence[tuple[str, CachedOutput]], *, model: str, adapter: str | None) -> int:
        """Store ``(key, output)`` pairs made by ``model`` (and ``adapter``, its versioned name); a key already
        present keeps its row (the same key is the same output: two translations of one paper at once may both
        write it). Returns how many rows were given."""
        rows = {
            key: {
                "key": key,
                "output": o.output,
                "prompt": o.prompt,
                "status": o.status,
                "reasons": list(o.reasons),
                "model": model,
                "adapter": adapter,
                "created_at": now(),
                "hits": 0,
            }
            for key, o in entries
        }
        if not rows:
            return 0
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        values = list(rows.values())
        async with self.db.write() as session, session.begin():
            for start in range(0, len(values), _BATCH):
                stmt = insert(CachedOutputRow).values(values[start : start + _BATCH])
                await session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        return len(rows)
