"""SIGKILL the server in the middle of a burst of feedback writes: every acknowledged write survives, and client
retries with the same Idempotency-Key create no duplicates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from papertrans.server.settings import Settings
from papertrans.server.store import Feedback, open_store

from ._server import ServerProcess
from .conftest import make_record

pytestmark = pytest.mark.slow

N = 300  # writes in the burst
KILL_AFTER = 60  # acknowledged writes before the kill


def _body(tid: str, i: int) -> dict[str, object]:
    return {"translation_id": tid, "segment_id": f"s{i % 2}", "rating": "up" if i % 3 else "down",
            "comment": f"burst-{i}"}


async def _burst(url: str, tid: str, acked: set[int], on_ack: asyncio.Event) -> None:
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def one(i: int) -> None:
            async with sem:
                try:
                    r = await client.post("/feedback", json=_body(tid, i), headers={"Idempotency-Key": f"burst-{i}"})
                except httpx.HTTPError:
                    return  # no answer: not acknowledged, the client will retry
                if r.status_code == 201:
                    acked.add(i)
                    if len(acked) >= KILL_AFTER:
                        on_ack.set()

        await asyncio.gather(*(one(i) for i in range(N)))


async def _rows(settings: Settings) -> list[str]:
    store = await open_store(settings)
    try:
        async with store.read_session() as session:
            return list((await session.scalars(select(Feedback.comment))).all())
    finally:
        await store.close()


async def test_sigkill_mid_burst_loses_no_acknowledged_write(settings: Settings, tmp_path: Path) -> None:
    store = await open_store(settings)
    rec = make_record("durable-1")
    await store.record_translation(rec)
    await store.close()

    server = ServerProcess(settings, tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    acked: set[int] = set()
    enough = asyncio.Event()
    try:
        burst = asyncio.create_task(_burst(server.url, rec.id, acked, enough))
        await asyncio.wait_for(enough.wait(), timeout=120)
        await asyncio.to_thread(server.kill)  # mid-burst: requests are still in flight
        await burst
    finally:
        server.stop()
    assert KILL_AFTER <= len(acked) < N, "the kill must land in the middle of the burst"

    after_crash = await _rows(settings)
    missing = {i for i in acked if f"burst-{i}" not in after_crash}
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:10]}"
    assert len(after_crash) == len(set(after_crash))

    # The client retries everything it sent (acknowledged or not) with the same keys.
    server = ServerProcess(settings, tmp_path / "server2.log")
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            replayed = 0
            for i in range(N):
                r = await client.post("/feedback", json=_body(rec.id, i), headers={"Idempotency-Key": f"burst-{i}"})
                assert r.status_code == 201, r.text
                replayed += r.headers.get("idempotent-replayed") == "true"
    finally:
        server.stop()
    final = await _rows(settings)
    assert sorted(final) == sorted(f"burst-{i}" for i in range(N))  # each write exactly once
    assert replayed >= len(acked)
