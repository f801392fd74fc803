"""Readers' feedback on one segment: thumbs, a correction (restored and masked), a comment."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ._db import now
from ._idempotency import Idempotency, WriteResult
from ._models import Feedback

__all__ = ["FeedbackWrites"]


class FeedbackWrites:
    """Feedback rows, written idempotently (scope ``feedback``)."""

    def __init__(self, idempotency: Idempotency) -> None:
        self.idempotency = idempotency

    async def add(
        self,
        *,
        translation_id: str,
        segment_id: str,
        rating: str | None,
        correction: str | None,
        correction_masked: str | None,
        comment: str | None,
        who: str | None,
        idempotency_key: str | None,
        req_hash: str,
    ) -> WriteResult:
        async def action(session: AsyncSession) -> dict[str, Any]:
            row = Feedback(
                translation_id=translation_id,
                segment_id=segment_id,
                rating=rating,
                correction=correction,
                correction_masked=correction_masked,
                comment=comment,
                who=who,
                created_at=now(),
            )
            session.add(row)
            await session.flush()
            return {"id": row.id, "translation_id": translation_id, "segment_id": segment_id, "stored": True}

        return await self.idempotency.write("feedback", idempotency_key, req_hash, action)
