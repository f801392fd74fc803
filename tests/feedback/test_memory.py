"""Translation memory: a correction accepted through POST /feedback is what the next /translate of the same segment
returns (status ``memory``, no model call), on SQLite and PostgreSQL; same glossary version only; a setting turns it
off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select

from papertrans.server.app import create_app
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.settings import Settings
from papertrans.server.store import Segment

DOC = (
    "The attention weights $\\alpha_i$ sum to one, see :cite:`Bahdanau.2014`.\n\n"
    "A second paragraph stays with the model.\n"
)
CORRECTION = "注意力权重 $\\alpha_i$ 之和为一，见 :cite:`Bahdanau.2014`。"


@asynccontextmanager
async def _served(settings: Settings, engine: FakeEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app (lifespan included) in this event loop: asyncpg connections belong to one loop."""
    app = create_app(settings, engine=engine)
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait_for(started.wait(), 60)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        stop.set()
        await task


def _asked_about(engine: FakeEngine, text: str) -> int:
    return sum(text in r.source for r in engine.requests)


async def _translate(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    r = await client.post("/translate", json={"markdown": DOC, **extra})
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def _correct(client: httpx.AsyncClient, tid: str) -> None:
    r = await client.post("/feedback", json={"translation_id": tid, "segment_id": "s0", "correction": CORRECTION})
    assert r.status_code == 201, r.text


async def test_accepted_correction_is_returned_by_the_next_translate(settings: Settings) -> None:
    engine = FakeEngine()
    async with _served(settings, engine) as client:
        first = await _translate(client)
        assert first["segments"][0]["status"] == "ok"
        assert first["segments"][0]["translation"] != CORRECTION
        await _correct(client, first["translation_id"])
        asked = _asked_about(engine, "attention weights")
        again = await _translate(client)
        seg0, seg1 = again["segments"]
        assert seg0["status"] == "memory" and seg0["translation"] == CORRECTION
        assert CORRECTION in again["markdown"]
        assert _asked_about(engine, "attention weights") == asked  # no model call for the remembered segment
        # the other segment comes from the output cache (the first translate made it); the memory wins over the cache
        assert seg1["status"] == "cached"
        # the memory answer is recorded like any other (with the prompt it stands for): feedback on it is training data
        stored = (await client.get(f"/translations/{again['translation_id']}")).json()["segments"][0]
        assert stored["status"] == "memory" and stored["translation"] == CORRECTION
        async with client.app.state["store"].read_session() as session:  # type: ignore[attr-defined]
            prompts = (await session.scalars(select(Segment.prompt).where(
                Segment.translation_id == again["translation_id"], Segment.segment_id == "s0"))).all()
        assert len(prompts) == 1 and "attention weights" in prompts[0]


async def test_memory_needs_the_same_glossary_version(settings: Settings) -> None:
    engine = FakeEngine()
    async with _served(settings, engine) as client:
        first = await _translate(client)
        await _correct(client, first["translation_id"])
        other = await _translate(client, glossary=[{"source": "attention", "target": "注意力"}])
        assert other["segments"][0]["status"] != "memory"


async def test_memory_can_be_turned_off(settings: Settings) -> None:
    settings.translate.memory = False
    settings.translate.cache = False  # else the output cache answers the second translate (tests/server/test_output_cache)
    engine = FakeEngine()
    async with _served(settings, engine) as client:
        first = await _translate(client)
        await _correct(client, first["translation_id"])
        asked = _asked_about(engine, "attention weights")
        again = await _translate(client)
        assert again["segments"][0]["status"] == "ok"
        assert _asked_about(engine, "attention weights") == asked + 1
