"""Idempotent writes: a write and the response it answered commit together, once per (scope, Idempotency-Key)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ._db import Database, now
from ._models import IdempotencyEntry
from .errors import StoreConflict

__all__ = ["Idempotency", "WriteAction", "WriteResult", "request_hash"]

# An idempotent write: runs inside the write transaction, returns the response body to remember.
WriteAction = Callable[[AsyncSession], Awaitable[dict[str, Any]]]

_REUSED = "this Idempotency-Key was used with a different request body"


@dataclass(frozen=True)
class WriteResult:
    """What an idempotent write answers: its body, and whether it is the remembered answer to an earlier request."""

    body: dict[str, Any]
    replayed: bool = False


def request_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a request body, so that a reused Idempotency-Key with another body is caught."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Idempotency:
    """The remembered responses (table ``idempotency``) and the writes that go through them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(self, scope: str, key: str | None, req_hash: str, action: WriteAction) -> WriteResult:
        """Run ``action`` once per (scope, key): the write and the remembered response commit together.

        A key reused with a different request body raises :class:`StoreConflict`.
        """
        for _ in range(3):
            try:
                async with self.db.write() as session, session.begin():
                    if key is not None:
                        prior = await session.get(IdempotencyEntry, (scope, key))
                        if prior is not None:
                            if prior.request_hash != req_hash:
                                raise StoreConflict("idempotency_key_reused", _REUSED)
                            return WriteResult(prior.response, replayed=True)
                    body = await action(session)
                    if key is not None:
                        session.add(
                            IdempotencyEntry(
                                scope=scope,
                                key=key,
                                request_hash=req_hash,
                                status_code=0,  # legacy column (schema 0001): the API decides the status
                                response=body,
                                created_at=now(),
                            )
                        )
                return WriteResult(body)
            except IntegrityError:
                # A concurrent request with the same key committed first (PostgreSQL): our transaction rolled back
                # as a whole, so loop and replay its response.
                if key is None:
                    raise
        raise StoreConflict("idempotency_conflict", "concurrent requests with the same Idempotency-Key")

    async def replay(self, scope: str, key: str | None, req_hash: str) -> dict[str, Any] | None:
        """The remembered response body for (scope, key), if any (:class:`StoreConflict` when the key came with
        another body)."""
        if key is None:
            return None
        async with self.db.read() as session:
            prior = await session.get(IdempotencyEntry, (scope, key))
        if prior is None:
            return None
        if prior.request_hash != req_hash:
            raise StoreConflict("idempotency_key_reused", _REUSED)
        return prior.response
