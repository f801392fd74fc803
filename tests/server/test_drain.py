"""SIGTERM on a real server process (uvicorn, fake engine with a delay): the request in flight is answered, the
process (`papertrans serve`) exits 0, and queued jobs stay on disk and finish after the next start (issue 12)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest

from papertrans.server.settings import Settings
from tests.feedback._server import ServerProcess

pytestmark = pytest.mark.slow

DOC = "The model reads the paper.\n\nThe attention focuses on tokens."


def _server(tmp_path: Path, model: str) -> ServerProcess:
    srv = ServerProcess(Settings(data_dir=tmp_path / "data"), tmp_path / "server.log")
    srv.env.update({"PAPERTRANS_MODEL": model, "PAPERTRANS_MAX_CONCURRENT_JOBS": "1"})
    srv.serve = True  # `papertrans serve`: the product's SIGTERM handling and exit code
    return srv


async def test_sigterm_drains_in_flight_and_leaves_jobs_resumable(tmp_path: Path) -> None:
    srv = _server(tmp_path, "fake:1.5")
    await asyncio.to_thread(srv.start)
    try:
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as c:
            jobs = [(await c.post("/jobs", json={"markdown": f"{DOC} Number {i}."})).json()["id"] for i in range(3)]
            in_flight = asyncio.create_task(c.post("/translate", json={"markdown": DOC}))
            await asyncio.sleep(0.5)  # the translation is in the engine now
            assert srv.proc is not None
            srv.proc.send_signal(signal.SIGTERM)
            r = await in_flight
            code = await asyncio.to_thread(srv.proc.wait, 60)
    finally:
        srv.stop()
    assert r.status_code == 200 and r.json()["segments"][0]["status"] == "ok"  # drained, not cut off
    assert code == 0
    folder = tmp_path / "data" / "jobs"
    states = {j: json.loads((folder / f"{j}.json").read_text())["status"] for j in jobs}
    # a job may have finished while the request drained; the others are left queued (not failed), request kept
    assert "queued" in states.values() and set(states.values()) <= {"queued", "done"}, states
    assert all((folder / f"{j}.request.json").is_file() for j, st in states.items() if st == "queued")

    again = _server(tmp_path, "fake")
    await asyncio.to_thread(again.start)
    try:
        async with httpx.AsyncClient(base_url=again.url, timeout=30) as c:
            for _ in range(200):
                bodies = [(await c.get(f"/jobs/{j}")).json() for j in jobs]
                if all(b["status"] in ("done", "failed") for b in bodies):
                    break
                await asyncio.sleep(0.1)
            assert (await c.get("/health")).status_code == 200
    finally:
        again.stop()
    assert [b["status"] for b in bodies] == ["done"] * 3, bodies
    assert all(b["result"]["markdown"].startswith("译") for b in bodies)
