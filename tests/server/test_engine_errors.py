"""Engine errors (server.engine.protocol) reach HTTP through server/errors.py's one mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from papertrans.server.engine import AdapterLoadError, AdapterRef, EngineClosedError, EngineError
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import ADMIN, make_adapter, serve


class RefusingEngine(FakeEngine):
    """Raises ``error`` on every adapter load (once ``armed``)."""

    def __init__(self, error: EngineError) -> None:
        super().__init__()
        self.error = error
        self.armed = True

    async def add_adapter(self, adapter: AdapterRef) -> None:
        if self.armed:
            raise self.error
        await super().add_adapter(adapter)


async def test_a_refused_adapter_is_422(app_factory: Any, tmp_path: Path) -> None:
    make_adapter(tmp_path / "data" / "adapters", "run1")
    async with serve(app_factory(RefusingEngine(AdapterLoadError("rank 64 > max_lora_rank 16")))) as c:
        r = await c.post("/adapters/d2l/versions", json={"folder": "run1"}, headers=ADMIN)
        assert r.status_code == 422
        assert r.json()["error"] == "adapter_load_failed" and "rank 64" in r.json()["detail"]
        assert (await c.get("/adapters", headers=ADMIN)).json() == []  # nothing half-registered


async def test_a_dead_engine_is_503_with_retry_after(app_factory: Any, tmp_path: Path) -> None:
    make_adapter(tmp_path / "data" / "adapters", "run1")
    async with serve(app_factory(RefusingEngine(EngineClosedError("engine core died")))) as c:
        r = await c.post("/adapters/d2l/versions", json={"folder": "run1"}, headers=ADMIN)
        assert r.status_code == 503 and r.json()["error"] == "engine_unavailable"
        assert r.headers["retry-after"] == "10"


async def test_a_version_refused_at_start_stays_registered_unloaded(app_factory: Any, tmp_path: Path) -> None:
    make_adapter(tmp_path / "data" / "adapters", "run1")
    async with serve(app_factory()) as c:
        assert (await c.post("/adapters/d2l/versions", json={"folder": "run1"}, headers=ADMIN)).status_code == 201
    async with serve(app_factory(RefusingEngine(AdapterLoadError("gone")))) as c:
        listing = (await c.get("/adapters", headers=ADMIN)).json()
        assert listing[0]["name"] == "d2l" and not listing[0]["versions"][0]["loaded"]
