"""Access and backpressure: API keys on /translate and /jobs, per-client and overall limits answered at once with
429/503 + Retry-After (never an unbounded wait), document size limits (segments, glossary)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from papertrans.server.access import key_matches
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import serve

DOC = "First paragraph of the paper.\n\nSecond paragraph."


async def test_api_keys_guard_translate_and_jobs(app_factory: Any) -> None:
    async with serve(app_factory(api_keys=["k1", "k2"])) as c:
        for path in ("/translate", "/jobs"):
            r = await c.post(path, json={"markdown": DOC})
            assert r.status_code == 401 and r.json()["error"] == "missing_api_key", r.text
            r = await c.post(path, json={"markdown": DOC}, headers={"X-API-Key": "k3"})
            assert r.status_code == 401 and r.json()["error"] == "invalid_api_key"
        assert (await c.post("/translate", json={"markdown": DOC}, headers={"X-API-Key": "k2"})).status_code == 200
        r = await c.post("/jobs", json={"markdown": DOC}, headers={"X-API-Key": "k1"})
        assert r.status_code == 202
        job = r.json()["id"]
        assert (await c.get(f"/jobs/{job}")).status_code == 401  # reading a job needs a key too
        assert (await c.get(f"/jobs/{job}", headers={"X-API-Key": "k1"})).status_code == 200
        assert (await c.post("/feedback", json={"translation_id": "x", "segment_id": "s0"})).status_code == 401
        assert (await c.get("/health")).status_code == 200  # probes stay open


def test_key_comparison() -> None:
    assert key_matches("abc", ["x", "abc"]) and not key_matches("ab", ["abc"]) and not key_matches("abc", [])
    assert not key_matches("\ud800", ["abc"])  # a lone surrogate compares (unequal) instead of raising


async def _burst(c: httpx.AsyncClient, n: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    return list(await asyncio.gather(*(c.post("/translate", json={"markdown": DOC}, headers=headers) for _ in range(n))))


async def test_per_client_limit_is_429_with_retry_after(app_factory: Any) -> None:
    limits = {"translate_per_client": 2, "retry_after_s": 7}
    async with serve(app_factory(FakeEngine(delay=0.3), limits=limits, api_keys=["a", "b"])) as c:
        rs = await _burst(c, 3, {"X-API-Key": "a"})
        other = await c.post("/translate", json={"markdown": DOC}, headers={"X-API-Key": "b"})
        metrics = (await c.get("/metrics")).text
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200, 429], codes
    refused = next(r for r in rs if r.status_code == 429)
    assert refused.json()["error"] == "too_many_requests" and refused.headers["retry-after"] == "7"
    assert other.status_code == 200  # another key is not held back by the first
    assert 'papertrans_rejections_total{reason="too_many_requests"} 1.0' in metrics


async def test_full_queue_is_503_with_retry_after(app_factory: Any) -> None:
    limits = {"translate_running": 1, "translate_waiting": 1, "wait_timeout_s": 30}
    async with serve(app_factory(FakeEngine(delay=0.3), limits=limits)) as c:
        rs = await _burst(c, 3)
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200, 503], codes  # one runs, one waits, the third is refused at once
    busy = next(r for r in rs if r.status_code == 503)
    assert busy.json()["error"] == "server_busy" and int(busy.headers["retry-after"]) > 0


async def test_wait_for_a_slot_is_bounded(app_factory: Any) -> None:
    limits = {"translate_running": 1, "translate_waiting": 8, "wait_timeout_s": 0.2}
    async with serve(app_factory(FakeEngine(delay=1.0), limits=limits)) as c:
        t0 = asyncio.get_running_loop().time()
        first = asyncio.create_task(c.post("/translate", json={"markdown": "One paragraph."}))
        await asyncio.sleep(0.05)
        second = await c.post("/translate", json={"markdown": "One paragraph."})
        waited = asyncio.get_running_loop().time() - t0
        assert (await first).status_code == 200
    assert second.status_code == 503 and second.json()["error"] == "server_busy" and "retry-after" in second.headers
    assert waited < 0.9  # refused after the bounded wait, not after the first request finished


async def test_unfinished_jobs_per_client_and_overall(app_factory: Any) -> None:
    async with serve(app_factory(FakeEngine(delay=5.0), limits={"jobs_per_client": 2, "jobs_queued": 3},
                                 api_keys=["a", "b"])) as c:
        a, b = {"X-API-Key": "a"}, {"X-API-Key": "b"}
        assert [(await c.post("/jobs", json={"markdown": DOC}, headers=a)).status_code for _ in range(2)] == [202] * 2
        r = await c.post("/jobs", json={"markdown": DOC}, headers=a)
        assert r.status_code == 429 and r.json()["error"] == "too_many_jobs" and "retry-after" in r.headers
        assert (await c.post("/jobs", json={"markdown": DOC}, headers=b)).status_code == 202
        r = await c.post("/jobs", json={"markdown": DOC}, headers=b)  # 3 unfinished overall: the server is full
        assert r.status_code == 503 and r.json()["error"] == "server_busy" and "retry-after" in r.headers


async def test_segment_and_glossary_limits_are_413(app_factory: Any) -> None:
    async with serve(app_factory(limits={"max_segments": 3, "max_glossary_entries": 2})) as c:
        many = "\n\n".join(f"Paragraph number {i}." for i in range(4))
        for path in ("/translate", "/jobs"):
            r = await c.post(path, json={"markdown": many})
            assert r.status_code == 413 and r.json()["error"] == "too_many_segments" and r.json()["limit"] == 3
            glossary = [{"source": f"term{i}", "target": f"术语{i}"} for i in range(3)]
            r = await c.post(path, json={"markdown": DOC, "glossary": glossary})
            assert r.status_code == 413 and r.json()["error"] == "glossary_too_large"
        assert (await c.post("/translate", json={"markdown": DOC})).status_code == 200
