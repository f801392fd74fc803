"""``GET /health``: engine state, model, active adapters, store."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.datastructures import State

__all__ = ["health"]


@get("/health", summary="Engine state, model and active adapters", tags=["ops"])
async def health(state: State) -> dict[str, Any]:
    engine_info: dict[str, Any]
    try:
        engine_info = dict(await state.engine.health())
    except Exception as exc:  # noqa: BLE001 -- health must answer even when the engine does not
        engine_info = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
    store_info: dict[str, Any] | None = None
    if state.store is not None:
        try:
            store_info = dict(await state.store.health())
        except Exception as exc:  # noqa: BLE001
            store_info = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ok = engine_info.get("state") in ("ready", "ok", "running") and (store_info is None or store_info.get("ok", True))
    return {
        "status": "ok" if ok else "degraded",
        "model": state.engine.model_name,
        "engine": engine_info,
        "adapters": state.adapters.active(),
        "store": store_info,
        "jobs": {"queued": state.jobs.queued()},
    }
