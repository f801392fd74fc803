"""The real engine's core process dies under load (issue 12): a dedicated `papertrans serve` on the embedded model
(never the shared session engine) has its vLLM engine-core process SIGKILLed while a translation is in flight. The
request fails fast with 503 ``engine_unavailable``, /health says so, and the server exits with its engine-dead code
so that a supervisor restarts it."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from papertrans import exitcodes
from papertrans.server.settings import Settings
from tests.feedback._server import ServerProcess

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# 32 paragraphs through 8 sequence slots: several waves of generation, so the kill lands while requests are running
DOC = "\n\n".join(
    f"Paragraph {i}: the attention mechanism lets the model focus on relevant tokens of a long input." for i in range(32)
)
_QUEUE = re.compile(r"^papertrans_queue_depth (\S+)$", re.MULTILINE)


async def _until_in_engine(c: httpx.AsyncClient, task: asyncio.Task[httpx.Response], timeout: float = 120.0) -> None:
    """Wait until the server has engine requests in flight (its queue-depth gauge), not a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not task.done():
        m = _QUEUE.search((await c.get("/metrics")).text)
        if m and float(m.group(1)) > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the translation finished before the kill" if task.done() else "no engine request in flight")


def _engine_core(pid: int) -> psutil.Process:
    """vLLM titles its engine-core process ``VLLM::EngineCore``; else the spawned child that is not a tracker."""
    children = psutil.Process(pid).children(recursive=True)
    described = [(p, " ".join([p.name(), *p.cmdline()])) for p in children]
    named = [p for p, text in described if "EngineCore" in text]
    spawned = [p for p, text in described if "spawn" in text and "resource_tracker" not in text]
    found = named or spawned
    assert found, f"no engine-core process among {[text for _, text in described]}"
    return found[0]


async def test_engine_core_death_fails_fast_and_the_server_exits_for_its_supervisor(tmp_path: Path) -> None:
    srv = ServerProcess(Settings(data_dir=tmp_path / "data"), tmp_path / "server.log")
    srv.env.pop("PAPERTRANS_MODEL")  # the embedded model
    srv.env.update({"PAPERTRANS_ENGINE_CHECK_S": "1", "PAPERTRANS_ENGINE__MAX_NUM_SEQS": "8"})
    srv.serve = True
    await asyncio.to_thread(srv.start, 600.0)
    try:
        assert srv.proc is not None
        async with httpx.AsyncClient(base_url=srv.url, timeout=300) as c:
            assert (await c.get("/health")).status_code == 200
            in_flight = asyncio.create_task(c.post("/translate", json={"markdown": DOC}))
            await _until_in_engine(c, in_flight)  # its requests are in the engine now
            _engine_core(srv.proc.pid).send_signal(signal.SIGKILL)
            t0 = time.monotonic()
            r = await in_flight
            failed_after = time.monotonic() - t0
            try:
                health = await c.get("/health", timeout=10)
                health_status: int | None = health.status_code
            except httpx.HTTPError:  # already shutting down: the process exit below is the signal
                health_status = None
        code = await asyncio.to_thread(srv.proc.wait, 120)
    finally:
        srv.stop()
    assert r.status_code == 503 and r.json()["error"] == "engine_unavailable", r.text
    assert "retry-after" in r.headers
    assert failed_after < 30, failed_after
    assert health_status in (503, None)
    assert code == exitcodes.FAILED, (code, (tmp_path / "server.log").read_text()[-3000:])
