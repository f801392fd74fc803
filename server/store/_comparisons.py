"""A/B comparisons: two variants of one segment, shown blind, and the reader's choice (Good/Same/Bad)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ._db import now
from ._idempotency import Idempotency, WriteResult, request_hash
from ._models import Comparison
from .errors import RecordNotFound, StoreConflict

__all__ = ["Comparisons", "comparison_view"]


def comparison_view(row: Comparison) -> dict[str, Any]:
    """What a reader sees: the two texts in the stored order, without saying which adapter made which."""
    return {
        "id": row.id,
        "translation_id": row.translation_id,
        "segment_id": row.segment_id,
        "a": {"text": row.a_text},
        "b": {"text": row.b_text},
        "choice": row.choice,
    }


class Comparisons:
    """Comparison rows, written idempotently (scopes ``comparison`` and ``choice``)."""

    def __init__(self, idempotency: Idempotency) -> None:
        self.idempotency = idempotency

    async def add(
        self, values: dict[str, Any], *, who: str | None, idempotency_key: str | None, req_hash: str
    ) -> WriteResult:
        async def action(session: AsyncSession) -> dict[str, Any]:
            row = Comparison(id=uuid.uuid4().hex, who=who, created_at=now(), **values)
            session.add(row)
            await session.flush()
            return comparison_view(row)

        return await self.idempotency.write("comparison", idempotency_key, req_hash, action)

    async def choose(
        self, comparison_id: str, choice: str, *, who: str | None, idempotency_key: str | None, req_hash: str
    ) -> WriteResult:
        async def action(session: AsyncSession) -> dict[str, Any]:
            row = await session.get(Comparison, comparison_id)
            if row is None:
                raise RecordNotFound("unknown_comparison", f"no comparison {comparison_id!r}")
            if row.choice is not None and row.choice != choice:
                raise StoreConflict("already_chosen", f"comparison {comparison_id!r} already has choice {row.choice!r}")
            row.choice = choice
            row.chosen_at = row.chosen_at or now()
            if who:
                row.who = who
            return {"id": row.id, "choice": choice, "a": row.a_label, "b": row.b_label}

        # The body alone does not name the comparison (it is in the path): hash both, keeping the column's 64 chars.
        scoped = request_hash({"comparison_id": comparison_id, "body": req_hash})
        return await self.idempotency.write("choice", idempotency_key, scoped, action)
