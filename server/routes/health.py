"""``GET /health``: engine state, model, active adapters, the default adapter, store."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.datastructures import State

__all__ = ["health"]


@get("/health", summary="Engine state, model and active adapters (503 when the engine is dead)", tags=["ops"])
async def health(state: State) -> Response[dict[str, Any]]:
    engine_info: dict[str, Any]
    try:
        # bounded: a call into an engine core that died mid-call may never return, and /health must answer
        engine_info = dict(await asyncio.wait_for(state.engine.health(), timeout=10.0))
    except Exception as exc:  # health must answer even when the engine does not
        engine_info = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
    store_info: dict[str, Any] | None = None
    if state.store is not None:
        try:
            store_info = dict(await state.store.health())
        except Exception as exc:
            store_info = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    engine_ok = engine_info.get("state") in ("ready", "ok", "running") and not state.get("engine_dead")
    ok = engine_ok and (store_info is None or store_info.get("ok", True))
    # a dead engine is a 503 (nothing can be translated: a load balancer or supervisor must act); a store that is
    # down is a 200 "degraded" (translations are still served, their records wait in a backlog)
    body = {
        "status": "ok" if ok else ("degraded" if engine_ok else "engine_dead"),
        "model": state.engine.model_name,
        "engine": engine_info,
        "adapters": state.adapters.active(),
        # what a request that names no adapter is served with (None = the base model): the nightly refresh refines
        # and publishes this one, so that the night's work reaches readers
        "default_adapter": getattr(state.get("translator"), "default_adapter", None),
        "store": store_info,
        "jobs": {"queued": state.jobs.queued()},
        "translations": state.admission.snapshot(),
    }
    return Response(body, status_code=200 if engine_ok else 503)
