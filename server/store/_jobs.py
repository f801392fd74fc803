"""Background jobs in the store (migration 0003), so that any replica of a fleet can run, resume and stream them.

A replica *claims* a queued job (or a running one whose lease expired: its replica died) in one transaction — on
PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED``, so replicas never claim the same job; on SQLite the write
transaction is ``BEGIN IMMEDIATE``, one writer at a time — and renews its lease while it runs. Every write of a
running job (events, finished segments, the end) is guarded by the lease: a replica that lost it writes nothing
(:class:`LeaseLost`), so a job has one runner at a time.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ._store import Store

__all__ = ["Claim", "JobTable", "LeaseLost"]

_meta = sa.MetaData()
_jobs = sa.Table(
    "jobs",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(256)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("total", sa.Integer),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("error", sa.JSON),
    sa.Column("result", sa.JSON),
    sa.Column("request", sa.JSON),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", sa.Float),
)
_events = sa.Table(
    "job_events",
    _meta,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("body", sa.JSON, nullable=False),
)
_segments = sa.Table(
    "job_segments",
    _meta,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("segment_id", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.JSON, nullable=False),
)
_UNFINISHED = ("queued", "running")
_SUMMARY = [c for c in _jobs.c if c.name not in ("request", "lease_owner", "lease_until")]


class LeaseLost(Exception):
    """This replica no longer holds the job's lease (it expired and another replica took the job)."""


@dataclass
class Claim:
    """A job this replica now runs: its request, the segments finished by earlier runs, whether it is a resume."""

    job_id: str
    request: dict[str, Any]
    segments: dict[str, dict[str, Any]]
    total: int | None
    resumed: bool


class JobTable:
    """Job rows, events and finished segments in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _write(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.store.write_session()

    async def insert(self, job_id: str, owner: str | None, request: dict[str, Any]) -> float:
        created = time.time()
        async with self._write() as session, session.begin():
            await session.execute(
                sa.insert(_jobs).values(
                    id=job_id, status="queued", owner=owner, created_at=created, done=0, request=request
                )
            )
        return created

    async def get(self, job_id: str) -> dict[str, Any] | None:
        async with self.store.read_session() as session:
            row = (await session.execute(sa.select(*_SUMMARY).where(_jobs.c.id == job_id))).mappings().first()
        return dict(row) if row is not None else None

    async def events(self, job_id: str, after: int) -> list[dict[str, Any]]:
        query = sa.select(_events.c.body).where(_events.c.job_id == job_id, _events.c.seq > after)
        async with self.store.read_session() as session:
            return [dict(b) for b in (await session.execute(query.order_by(_events.c.seq))).scalars()]

    async def unfinished(self, owner: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(_jobs).where(_jobs.c.status.in_(_UNFINISHED))
        if owner is not None:
            query = query.where(_jobs.c.owner == owner)
        async with self.store.read_session() as session:
            return int((await session.execute(query)).scalar_one())

    async def queued(self) -> int:
        query = sa.select(sa.func.count()).select_from(_jobs).where(_jobs.c.status == "queued")
        async with self.store.read_session() as session:
            return int((await session.execute(query)).scalar_one())

    async def claim(self, replica: str, lease_s: float) -> Claim | None:
        """Take the oldest queued job, or a running one whose lease expired; None when there is none."""
        now = time.time()
        free = sa.or_(_jobs.c.status == "queued", sa.and_(_jobs.c.status == "running", _jobs.c.lease_until < now))
        query = (
            sa.select(_jobs.c.id, _jobs.c.request, _jobs.c.status, _jobs.c.total)
            .where(free)
            .order_by(_jobs.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it (BEGIN IMMEDIATE serializes)
        )
        async with self._write() as session, session.begin():
            row = (await session.execute(query)).mappings().first()
            if row is None:
                return None
            await session.execute(
                sa.update(_jobs)
                .where(_jobs.c.id == row["id"])
                .values(status="running", lease_owner=replica, lease_until=now + lease_s)
            )
            segs = await session.execute(
                sa.select(_segments.c.segment_id, _segments.c.outcome).where(_segments.c.job_id == row["id"])
            )
            segments = {str(s): dict(o) for s, o in segs.all()}
        return Claim(row["id"], dict(row["request"] or {}), segments, row["total"], row["status"] == "running")

    async def _guard(self, session: AsyncSession, job_id: str, replica: str, lease_s: float | None = None) -> None:
        values: dict[str, Any] = {} if lease_s is None else {"lease_until": time.time() + lease_s}
        result = await session.execute(
            sa.update(_jobs)
            .where(_jobs.c.id == job_id, _jobs.c.lease_owner == replica, _jobs.c.status == "running")
            .values(lease_owner=replica, **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(job_id)

    async def renew(self, job_id: str, replica: str, lease_s: float) -> None:
        async with self._write() as session, session.begin():
            await self._guard(session, job_id, replica, lease_s)

    async def append(
        self,
        job_id: str,
        replica: str,
        event: dict[str, Any],
        *,
        segment: tuple[str, dict[str, Any]] | None = None,
        progress: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one event (its ``seq`` allocated here), with the finished segment and the progress it reports."""
        async with self._write() as session, session.begin():
            await self._guard(session, job_id, replica)
            body = await self._event(session, job_id, event)
            if segment is not None:
                row = {"job_id": job_id, "segment_id": segment[0], "outcome": segment[1]}
                await session.execute(sa.insert(_segments).values(**row))
            if progress:
                await session.execute(sa.update(_jobs).where(_jobs.c.id == job_id).values(**progress))
        return body

    @staticmethod
    async def _event(session: AsyncSession, job_id: str, event: dict[str, Any]) -> dict[str, Any]:
        last = (await session.execute(sa.select(sa.func.max(_events.c.seq)).where(_events.c.job_id == job_id))).scalar()
        body = {"seq": 0 if last is None else int(last) + 1, **event}
        await session.execute(sa.insert(_events).values(job_id=job_id, seq=body["seq"], body=body))
        return body

    async def finish(self, job_id: str, replica: str, status: str, event: dict[str, Any], **values: Any) -> None:
        """End the job (done/failed) with its last event, in one transaction; the request is no longer needed."""
        async with self._write() as session, session.begin():
            await self._guard(session, job_id, replica)
            await self._event(session, job_id, event)
            await session.execute(
                sa.update(_jobs)
                .where(_jobs.c.id == job_id)
                .values(
                    status=status, finished_at=time.time(), request=None, lease_owner=None, lease_until=None, **values
                )
            )

    async def release(self, job_id: str, replica: str) -> None:
        """Give a running job back to the queue (this replica stops); its finished segments stay."""
        async with self._write() as session, session.begin():
            await session.execute(
                sa.update(_jobs)
                .where(_jobs.c.id == job_id, _jobs.c.lease_owner == replica, _jobs.c.status == "running")
                .values(status="queued", lease_owner=None, lease_until=None)
            )
