"""Faults (issue 12): the engine dies under load, the database goes away and comes back. Each ends in a clear
answer (503 + Retry-After), a truthful /health, and nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from papertrans.server.engine import EngineUnavailableError
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import serve

DOC = "The model reads the paper.\n\nThe attention $x$ focuses on tokens."


class DyingEngine(FakeEngine):
    """A fake whose core "dies" when told: requests in flight and later ones raise, health says dead."""

    def __init__(self) -> None:
        super().__init__(delay=0.2)
        self.dead = asyncio.Event()

    async def generate(self, prompt: str, options: Any, *, adapter: Any = None, request_id: str) -> Any:
        if self.dead.is_set():
            raise EngineUnavailableError("engine core died")
        work = asyncio.ensure_future(super().generate(prompt, options, adapter=adapter, request_id=request_id))
        died = asyncio.ensure_future(self.dead.wait())
        await asyncio.wait({work, died}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            raise EngineUnavailableError("engine core died")
        died.cancel()
        return work.result()

    async def health(self) -> dict[str, object]:
        return {"state": "dead" if self.dead.is_set() else "ready", "model": self.model_name}


async def test_engine_death_fails_in_flight_requests_fast_with_503(app_factory: Any) -> None:
    engine = DyingEngine()
    async with serve(app_factory(engine, engine_check_s=0.05)) as c:
        assert (await c.post("/translate", json={"markdown": DOC})).status_code == 200
        in_flight = asyncio.create_task(c.post("/translate", json={"markdown": DOC}))
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        engine.dead.set()
        r = await in_flight
        failed_after = loop.time() - t0
        later = await c.post("/translate", json={"markdown": DOC})
        await asyncio.sleep(0.2)  # the watchdog notices
        health = await c.get("/health")
        dead_flag = c.app.state.engine_dead
    assert r.status_code == 503 and r.json()["error"] == "engine_unavailable", r.text
    assert "engine core died" in r.json()["detail"] and int(r.headers["retry-after"]) > 0
    assert failed_after < 1.0  # failed at once, not after retries and fallbacks
    assert later.status_code == 503 and later.json()["error"] == "engine_unavailable"
    assert health.status_code == 503 and health.json()["status"] == "engine_dead"
    assert dead_flag == "dead"  # recorded: `papertrans serve` exits non-zero for its supervisor


async def test_database_away_translate_still_answers_feedback_503_nothing_lost(
    app_factory: Any, tmp_path: Path
) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    url = f"sqlite+aiosqlite:///{db_dir / 'store.db'}"
    async with serve(app_factory(store={"url": url})) as c:
        store = c.app.state.store
        first = (await c.post("/translate", json={"markdown": DOC})).json()["translation_id"]

        # the database goes away: its folder disappears and open connections are dropped
        os.rename(db_dir, tmp_path / "db.gone")
        await store._engine.dispose()
        await store._write_engine.dispose()

        r = await c.post("/translate", json={"markdown": "The paper reads the model."})
        assert r.status_code == 200  # translations are still served
        during = r.json()["translation_id"]
        feedback = {"translation_id": first, "segment_id": "s0", "rating": "up"}
        key = {"Idempotency-Key": "fb-1"}
        fb = await c.post("/feedback", json=feedback, headers=key)
        assert fb.status_code == 503 and fb.json()["error"] == "store_unavailable" and "retry-after" in fb.headers
        read = await c.get(f"/translations/{first}")
        assert read.status_code == 503
        health = (await c.get("/health")).json()
        assert health["status"] == "degraded" and health["store"]["ok"] is False and health["store"]["backlog"] == 1

        # it comes back: the kept translation is written, the feedback retry (same key) is accepted once
        os.rename(tmp_path / "db.gone", db_dir)
        health = (await c.get("/health")).json()
        assert health["status"] == "ok" and health["store"]["backlog"] == 0
        assert (await c.get(f"/translations/{during}")).status_code == 200  # nothing acknowledged was lost
        fb = await c.post("/feedback", json=feedback, headers=key)
        assert fb.status_code == 201, fb.text
        again = await c.post("/feedback", json=feedback, headers=key)
        assert again.headers.get("idempotent-replayed") == "true"
        stored = (await c.get(f"/translations/{first}")).json()
    ratings = [f for s in stored["segments"] for f in s.get("feedback", [])]
    assert len(ratings) == 1, stored


async def test_a_job_interrupted_again_and_again_is_failed_not_requeued_forever(app_factory: Any) -> None:
    from papertrans.server.jobs import MAX_RESTARTS

    async with serve(app_factory(FakeEngine(delay=30.0))) as c:
        job = (await c.post("/jobs", json={"markdown": DOC})).json()["id"]
    for _ in range(MAX_RESTARTS):  # each start queues it again; each stop interrupts it again
        async with serve(app_factory(FakeEngine(delay=30.0))) as c:
            assert (await c.get(f"/jobs/{job}")).json()["status"] in ("queued", "running")
    async with serve(app_factory()) as c:
        body = (await c.get(f"/jobs/{job}")).json()
    assert body["status"] == "failed" and body["error"]["error"] == "interrupted"
    assert f"{MAX_RESTARTS} restart" in body["error"]["detail"]
