"""Adapter admin API: registration inside the store only, versions, activate/rollback/delete, hot-swap, reload."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import ADMIN, make_adapter, serve


def _store(tmp_path: Path) -> Path:
    return tmp_path / "data" / "adapters"


async def test_register_activate_rollback_delete(app_factory: Any, tmp_path: Path) -> None:
    make_adapter(_store(tmp_path), "run1")
    make_adapter(_store(tmp_path), "run2")
    engine = FakeEngine()
    async with serve(app_factory(engine)) as c:
        r = await c.post("/adapters/d2l/versions", json={"folder": "run1"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        v1 = r.json()
        assert v1 == {**v1, "name": "d2l", "version": 1, "served_name": "d2l@1", "active": False}
        v2 = (await c.post("/adapters/d2l/versions", json={"folder": "run2"}, headers=ADMIN)).json()
        assert v2["version"] == 2 and v2["int_id"] != v1["int_id"] and v2["served_name"] == "d2l@2"
        assert sorted(await engine.list_adapters()) == sorted([v1["int_id"], v2["int_id"]])
        # a name with no active version cannot serve yet
        r = await c.post("/translate", json={"markdown": "The model.", "adapter": "d2l"})
        assert r.status_code == 409 and r.json()["error"] == "adapter_not_active"
        assert (await c.post("/adapters/d2l/activate", json={"version": 1}, headers=ADMIN)).json()["active"]
        assert (await c.post("/translate", json={"markdown": "The model.", "adapter": "d2l"})).json()[
            "adapter"
        ] == "d2l@1"
        await c.post("/adapters/d2l/activate", json={"version": 2}, headers=ADMIN)
        assert (await c.post("/translate", json={"markdown": "The model.", "adapter": "d2l"})).json()[
            "adapter"
        ] == "d2l@2"
        # an explicit version still works
        pinned = (await c.post("/translate", json={"markdown": "The model.", "adapter": "d2l@1"})).json()
        assert pinned["adapter"] == "d2l@1" and "[d2l@1]" in pinned["markdown"]
        r = await c.delete("/adapters/d2l/versions/2", headers=ADMIN)
        assert r.status_code == 409 and r.json()["error"] == "version_active"
        r = await c.post("/adapters/d2l/rollback", headers=ADMIN)
        assert r.status_code == 200 and r.json()["version"] == 1
        assert (await c.post("/adapters/d2l/rollback", headers=ADMIN)).status_code == 409
        listing = (await c.get("/adapters", headers=ADMIN)).json()
        assert listing[0]["name"] == "d2l" and listing[0]["active"] == 1 and len(listing[0]["versions"]) == 2
        r = await c.delete("/adapters/d2l/versions/2", headers=ADMIN)
        assert r.status_code == 200
        assert await engine.list_adapters() == [v1["int_id"]]
        assert (await c.post("/adapters/d2l/activate", json={"version": 2}, headers=ADMIN)).status_code == 404
        health = (await c.get("/health")).json()
        assert health["adapters"] == {"d2l": "d2l@1"}
        metrics = (await c.get("/metrics")).text
        assert 'papertrans_adapter_versions{adapter="d2l"} 1.0' in metrics


async def test_only_folders_inside_the_store(app_factory: Any, tmp_path: Path) -> None:
    outside = make_adapter(tmp_path / "elsewhere", "evil")
    _store(tmp_path).mkdir(parents=True)
    os.symlink(outside, _store(tmp_path) / "link")
    (_store(tmp_path) / "empty").mkdir()
    make_adapter(_store(tmp_path), "big", rank=64)
    async with serve(app_factory()) as c:
        for folder, status, code in [
            ("../../elsewhere/evil", 400, "folder_outside_store"),
            (str(outside), 400, "folder_outside_store"),
            ("link", 400, "folder_outside_store"),
            (".", 400, "folder_outside_store"),
            ("missing", 404, "folder_not_found"),
            ("empty", 422, "not_an_adapter"),
            ("big", 422, "adapter_rank_too_large"),
        ]:
            r = await c.post("/adapters/x/versions", json={"folder": folder}, headers=ADMIN)
            assert (r.status_code, r.json()["error"]) == (status, code), folder
        r = await c.post("/adapters/bad@name/versions", json={"folder": "empty"}, headers=ADMIN)
        assert r.status_code == 400 and r.json()["error"] == "invalid_adapter_name"
        r = await c.post("/adapters/x/versions", json={}, headers=ADMIN)
        assert r.status_code == 400
        r = await c.post("/adapters/x/activate", json={"version": "one"}, headers=ADMIN)
        assert r.status_code == 400
        r = await c.post("/adapters/x/activate", json={"version": 1}, headers=ADMIN)
        assert r.status_code == 404 and r.json()["error"] == "unknown_adapter"


async def test_hot_swap_under_load(app_factory: Any, tmp_path: Path) -> None:
    """v1 serves slow requests; v2 is registered and activated meanwhile: all succeed, new ones use v2."""
    make_adapter(_store(tmp_path), "v1")
    make_adapter(_store(tmp_path), "v2")
    engine = FakeEngine(delay=0.3)
    async with serve(app_factory(engine)) as c:
        await c.post("/adapters/d2l/versions", json={"folder": "v1"}, headers=ADMIN)
        await c.post("/adapters/d2l/activate", json={"version": 1}, headers=ADMIN)
        docs = [f"Document {i} about the model.\n\nIts second paragraph." for i in range(4)]
        running = [asyncio.create_task(c.post("/translate", json={"markdown": d, "adapter": "d2l"})) for d in docs]
        for _ in range(100):  # wait until they are in flight on v1
            if engine.in_flight >= 4:
                break
            await asyncio.sleep(0.01)
        assert engine.in_flight >= 4
        assert (await c.post("/adapters/d2l/versions", json={"folder": "v2"}, headers=ADMIN)).status_code == 201
        # v1 is in use: it cannot be deleted while requests run on it
        await c.post("/adapters/d2l/activate", json={"version": 2}, headers=ADMIN)
        r = await c.delete("/adapters/d2l/versions/1", headers=ADMIN)
        assert r.status_code == 409 and r.json()["error"] == "version_in_use"
        new = await c.post("/translate", json={"markdown": "A new request on the model.", "adapter": "d2l"})
        results = await asyncio.gather(*running)
        assert all(r.status_code == 200 for r in results)
        assert {r.json()["adapter"] for r in results} == {"d2l@1"}  # finished on the version they started with
        assert all(s["status"] == "ok" for r in results for s in r.json()["segments"])
        assert new.json()["adapter"] == "d2l@2"
        assert (await c.post("/adapters/d2l/rollback", headers=ADMIN)).json()["version"] == 1
        after = await c.post("/translate", json={"markdown": "After the rollback.", "adapter": "d2l"})
        assert after.json()["adapter"] == "d2l@1"
        # nothing runs on v2 now: it can go
        assert (await c.delete("/adapters/d2l/versions/2", headers=ADMIN)).status_code == 200


async def test_registry_state_survives_restart(app_factory: Any, tmp_path: Path) -> None:
    make_adapter(_store(tmp_path), "v1")
    async with serve(app_factory()) as c:
        info = (await c.post("/adapters/d2l/versions", json={"folder": "v1"}, headers=ADMIN)).json()
        await c.post("/adapters/d2l/activate", json={"version": 1}, headers=ADMIN)
    engine = FakeEngine()
    async with serve(app_factory(engine)) as c:
        listing = (await c.get("/adapters", headers=ADMIN)).json()
        assert listing[0]["active"] == 1 and listing[0]["versions"][0]["loaded"]
        assert await engine.list_adapters() == [info["int_id"]]  # reloaded into the new engine
        make_adapter(_store(tmp_path), "v2")
        v2 = (await c.post("/adapters/d2l/versions", json={"folder": "v2"}, headers=ADMIN)).json()
        assert v2["int_id"] > info["int_id"]  # ids are never reused across restarts
