"""Adapters across a fleet: two replicas on one store and one set of vllm serve endpoints (fakes on a MockTransport).
Publish once, both serve it; rollback is fleet-wide; a replica that starts later loads the active version; an
endpoint that refuses a version leaves nothing registered and the active version unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from papertrans.server.app import create_app
from papertrans.server.engine import EngineSettings
from papertrans.server.engine.remote import RemoteEngine
from tests.feedback.conftest import BACKENDS, drop_database, fresh_settings
from tests.server._fake_vllm import MODEL, FakeFleet, WordTokenizer
from tests.server.conftest import ADMIN, AppClient, make_adapter, make_settings, serve

DOC = "The model attends to the paper."


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """One empty database every replica of the test shares: SQLite in tmp_path, or a fresh PostgreSQL database."""
    settings, db = await fresh_settings(request.param, tmp_path)
    try:
        yield settings.store.url or f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"
    finally:
        await drop_database(db)


class Fleet:
    """Replicas of the papertrans app sharing a store URL, an adapter store and fake vllm endpoints."""

    def __init__(self, tmp_path: Path, store_url: str, stack: AsyncExitStack) -> None:
        self.tmp_path, self.store_url, self.stack = tmp_path, store_url, stack
        self.vllm = FakeFleet(2)
        self.adapters = tmp_path / "shared-adapters"

    async def replica(self, name: str, **overrides: object) -> AppClient:
        engine = RemoteEngine(
            self.vllm.urls,
            tokenizer=WordTokenizer(),
            model_name="gemma",
            settings=EngineSettings(),
            served_model=MODEL,
            transport=self.vllm.transport(),
        )
        self.stack.push_async_callback(engine.close)
        settings = make_settings(
            self.tmp_path / name,
            store={"url": self.store_url},
            adapters_dir=self.adapters,
            adapter_registry="store",
            adapter_sync_s=3600,  # tests call refresh() themselves
            engine_check_s=0,
            **overrides,
        )
        return await self.stack.enter_async_context(serve(create_app(settings, engine=engine)))


async def _served_by(c: AppClient) -> str | None:
    r = await c.post("/translate", json={"markdown": DOC, "adapter": "d2l"})
    assert r.status_code == 200, r.text
    return r.json()["adapter"]


async def test_publish_once_both_replicas_serve_and_rollback_is_fleet_wide(tmp_path: Path, store_url: str) -> None:
    async with AsyncExitStack() as stack:
        fleet = Fleet(tmp_path, store_url, stack)
        a, b = await fleet.replica("a"), await fleet.replica("b")
        for version, folder in ((1, "run1"), (2, "run2")):
            make_adapter(fleet.adapters, folder)
            r = await a.post("/adapters/d2l/versions", json={"folder": folder}, headers=ADMIN)
            assert r.status_code == 201, r.text
            assert (await a.post("/adapters/d2l/activate", json={"version": version}, headers=ADMIN)).status_code == 200
        # every endpoint got both versions, loaded once each by the publishing replica
        assert all(set(s.loras) == {"d2l@1", "d2l@2"} for s in fleet.vllm.servers.values())
        await b.app.state.adapters.refresh()
        assert await _served_by(a) == await _served_by(b) == "d2l@2"
        listed = (await b.get("/adapters", headers=ADMIN)).json()
        assert listed[0]["active"] == 2 and [v["loaded"] for v in listed[0]["versions"]] == [True, True]
        # rollback on B: A follows
        assert (await b.post("/adapters/d2l/rollback", headers=ADMIN)).json()["version"] == 1
        await a.app.state.adapters.refresh()
        assert await _served_by(a) == "d2l@1"
        # a replica that starts now loads the active version from the store
        c = await fleet.replica("c")
        assert await _served_by(c) == "d2l@1"
        # int ids are unique across the fleet: a version registered on B gets a fresh one
        make_adapter(fleet.adapters, "run3")
        v3 = (await b.post("/adapters/d2l/versions", json={"folder": "run3"}, headers=ADMIN)).json()
        assert v3["version"] == 3 and v3["int_id"] not in (1, 2)
        # delete on A: B forgets it at its next refresh
        assert (await a.post("/adapters/d2l/activate", json={"version": 3}, headers=ADMIN)).status_code == 200
        assert (await a.delete("/adapters/d2l/versions/2", headers=ADMIN)).status_code == 200
        await b.app.state.adapters.refresh()
        assert [v["version"] for v in (await b.get("/adapters", headers=ADMIN)).json()[0]["versions"]] == [1, 3]


async def test_an_endpoint_refusing_a_version_leaves_the_fleet_unchanged(tmp_path: Path, store_url: str) -> None:
    async with AsyncExitStack() as stack:
        fleet = Fleet(tmp_path, store_url, stack)
        a, b = await fleet.replica("a"), await fleet.replica("b")
        make_adapter(fleet.adapters, "run1")
        await a.post("/adapters/d2l/versions", json={"folder": "run1"}, headers=ADMIN)
        await a.post("/adapters/d2l/activate", json={"version": 1}, headers=ADMIN)
        fleet.vllm[1].refuse_lora = True
        make_adapter(fleet.adapters, "run2")
        r = await a.post("/adapters/d2l/versions", json={"folder": "run2"}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["error"] == "adapter_load_failed"
        assert all("d2l@2" not in s.loras for s in fleet.vllm.servers.values())
        await b.app.state.adapters.refresh()
        listed = (await b.get("/adapters", headers=ADMIN)).json()
        assert [v["version"] for v in listed[0]["versions"]] == [1] and listed[0]["active"] == 1
        assert await _served_by(b) == "d2l@1"


async def test_replicas_starting_together_share_one_starter_version(tmp_path: Path, store_url: str) -> None:
    async with AsyncExitStack() as stack:
        fleet = Fleet(tmp_path, store_url, stack)
        a, b = await asyncio.gather(
            *(fleet.replica(n, default_adapter="papertrans-zh") for n in "ab")
        )
        await a.app.state.adapters.refresh()
        listed = (await a.get("/adapters", headers=ADMIN)).json()
        starter = next(x for x in listed if x["name"] == "papertrans-zh")
        assert [v["version"] for v in starter["versions"]] == [1] and starter["active"] == 1
        for c in (a, b):
            assert c.app.state.translator.default_adapter == "papertrans-zh"
            r = await c.post("/translate", json={"markdown": DOC})
            assert r.status_code == 200 and r.json()["adapter"] == "papertrans-zh@1", r.text
        assert [p.name for p in (fleet.adapters / "starter").iterdir()] == [starter["versions"][0]["folder"].split("/")[-1]]
