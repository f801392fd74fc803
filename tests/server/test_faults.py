"""Faults (issue 12): the engine dies under load, the database goes away and comes back. Each ends in a clear
answer (503 + Retry-After), a truthful /health, and nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from papertrans.server.engine import EngineUnavailableError
from papertrans.server.engine.fake import FakeEngine
from tests.feedback.conftest import PG_URL, drop_database, fresh_settings
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
    # no output cache: the second translate of DOC must reach the engine (to be in flight when it dies)
    async with serve(app_factory(engine, engine_check_s=0.05, translate={"cache": False})) as c:
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


async def _database_outage(c: Any, go_away: Callable[[], Awaitable[None]], come_back: Callable[[], Awaitable[None]]
                           ) -> None:
    """/translate keeps answering while the database is away, feedback is 503, and after it returns the kept
    translation is written and the retried feedback (same Idempotency-Key) is stored exactly once."""
    first = (await c.post("/translate", json={"markdown": DOC})).json()["translation_id"]
    await go_away()
    r = await c.post("/translate", json={"markdown": "The paper reads the model."})
    assert r.status_code == 200  # translations are still served
    during = r.json()["translation_id"]
    feedback = {"translation_id": first, "segment_id": "s0", "rating": "up"}
    key = {"Idempotency-Key": "fb-1"}
    fb = await c.post("/feedback", json=feedback, headers=key)
    assert fb.status_code == 503 and fb.json()["error"] == "store_unavailable" and "retry-after" in fb.headers
    assert (await c.get(f"/translations/{first}")).status_code == 503
    health = (await c.get("/health")).json()
    assert health["status"] == "degraded" and health["store"]["ok"] is False and health["store"]["backlog"] == 1

    await come_back()
    health = (await c.get("/health")).json()
    assert health["status"] == "ok" and health["store"]["backlog"] == 0
    assert (await c.get(f"/translations/{during}")).status_code == 200  # nothing acknowledged was lost
    fb = await c.post("/feedback", json=feedback, headers=key)
    assert fb.status_code == 201, fb.text
    again = await c.post("/feedback", json=feedback, headers=key)
    assert again.headers.get("idempotent-replayed") == "true"
    stored = (await c.get(f"/translations/{first}")).json()
    assert len([f for s in stored["segments"] for f in s.get("feedback", [])]) == 1, stored


async def test_sqlite_away_translate_still_answers_feedback_503_nothing_lost(app_factory: Any, tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    url = f"sqlite+aiosqlite:///{db_dir / 'store.db'}"
    async with serve(app_factory(store={"url": url})) as c:
        store = c.app.state.store

        async def go_away() -> None:  # the database file's folder disappears and open connections are dropped
            os.rename(db_dir, tmp_path / "db.gone")
            await store.db.dispose()

        async def come_back() -> None:
            os.rename(tmp_path / "db.gone", db_dir)

        await _database_outage(c, go_away, come_back)


class _Proxy:
    """A TCP proxy in front of PostgreSQL: closing it (and every connection through it) is the database going away
    for the app, without touching the server other tests share."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="PAPERTRANS_TEST_PG_URL is not set")
async def test_postgres_away_translate_still_answers_feedback_503_nothing_lost(
    app_factory: Any, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url

    settings, db = await fresh_settings("postgres", tmp_path)
    try:
        url = make_url(str(settings.store.url))
        proxy = _Proxy(url.host or "127.0.0.1", url.port or 5432)
        await proxy.start()
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        async with serve(app_factory(store={"url": proxied})) as c:
            await _database_outage(c, proxy.stop, proxy.start)
        await proxy.stop()
    finally:
        await drop_database(db)


async def test_a_job_interrupted_again_and_again_is_failed_not_requeued_forever(app_factory: Any) -> None:
    from papertrans.server.jobs_folder import MAX_RESTARTS

    async with serve(app_factory(FakeEngine(delay=30.0))) as c:
        job = (await c.post("/jobs", json={"markdown": DOC})).json()["id"]
    for _ in range(MAX_RESTARTS):  # each start queues it again; each stop interrupts it again
        async with serve(app_factory(FakeEngine(delay=30.0))) as c:
            assert (await c.get(f"/jobs/{job}")).json()["status"] in ("queued", "running")
    async with serve(app_factory()) as c:
        body = (await c.get(f"/jobs/{job}")).json()
    assert body["status"] == "failed" and body["error"]["error"] == "interrupted"
    assert f"{MAX_RESTARTS} restart" in body["error"]["detail"]


async def test_watchdog_survives_a_health_call_that_never_returns(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's list_loras into a core that dies mid-call never returns: the watchdog's bounded call gives up, and the
    next poll sees the death (the hang once left a real server up after its engine core was killed)."""
    import papertrans.server.app as app_module

    monkeypatch.setattr(app_module, "HEALTH_TIMEOUT_S", 0.2)

    class HangsThenDead(FakeEngine):
        calls = 0

        async def health(self) -> dict[str, object]:
            HangsThenDead.calls += 1
            if HangsThenDead.calls == 2:
                await asyncio.Event().wait()  # the call in flight when the core died: never answered
            return {"state": "dead" if HangsThenDead.calls > 2 else "ready"}

    async with serve(app_factory(HangsThenDead(), engine_check_s=0.05)) as c:
        for _ in range(100):
            if c.app.state.engine_dead:
                break
            await asyncio.sleep(0.05)
        assert c.app.state.engine_dead == "dead"


async def test_a_slow_health_answer_is_a_busy_engine_not_a_dead_one(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core deep in long prefills answers late, poll after poll: the server keeps serving (this once stopped a
    server 55 s into a full dev run on 2 cores)."""
    import papertrans.server.app as app_module

    monkeypatch.setattr(app_module, "HEALTH_TIMEOUT_S", 0.05)

    class Busy(FakeEngine):
        calls = 0

        async def health(self) -> dict[str, object]:
            Busy.calls += 1
            await asyncio.sleep(0.2)  # every answer later than the watchdog waits
            return {"state": "ready"}

    async with serve(app_factory(Busy(), engine_check_s=0.02)) as c:
        while Busy.calls < 8:  # many polls, each timed out
            await asyncio.sleep(0.05)
        assert not c.app.state.engine_dead
        r = await c.post("/translate", json={"markdown": "The model reads."})
    assert r.status_code == 200, r.text
