"""Jobs in the store: two replicas on one database (SQLite and PostgreSQL), the job API and events unchanged, events
served by any replica, a job whose replica died resumed by another after its lease without redoing finished
segments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from papertrans.server.app import create_app
from papertrans.server.engine import AdapterRef, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.jobs_db import DatabaseJobManager
from tests.feedback.conftest import BACKENDS, drop_database, fresh_settings
from tests.server.conftest import AppClient, make_settings, serve
from tests.server.test_jobs import _events

DOC = "\n\n".join(f"Paragraph {i} of the paper with $x_{i}$." for i in range(8))


class OneAtATime(FakeEngine):
    """Segments finish one after another (every ``delay``), so a replica can die between two of them."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self._one = asyncio.Lock()

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        async with self._one:
            return await super().generate(prompt, options, adapter=adapter, request_id=request_id)


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    settings, db = await fresh_settings(request.param, tmp_path)
    try:
        yield settings.store.url or f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"
    finally:
        await drop_database(db)


async def _replica(stack: AsyncExitStack, tmp_path: Path, name: str, url: str, engine: FakeEngine) -> AppClient:
    settings = make_settings(
        tmp_path / name, store={"url": url}, job_queue="store", job_lease_s=1.0, engine_check_s=0
    )
    return await stack.enter_async_context(serve(create_app(settings, engine=engine)))


async def _wait(c: AppClient, job_id: str, until: Any, timeout: float = 30) -> dict[str, Any]:
    for _ in range(int(timeout / 0.05)):
        body = (await c.get(f"/jobs/{job_id}")).json()
        if until(body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"job did not get there: {body}")


async def test_a_job_posted_to_one_replica_streams_from_another(tmp_path: Path, store_url: str) -> None:
    async with AsyncExitStack() as stack:
        a = await _replica(stack, tmp_path, "a", store_url, FakeEngine(delay=0.05))
        b = await _replica(stack, tmp_path, "b", store_url, FakeEngine(delay=0.05))
        assert isinstance(a.app.state.jobs, DatabaseJobManager)
        r = await a.post("/jobs", json={"markdown": DOC})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        job_id = r.json()["id"]
        events = _events((await b.get(f"/jobs/{job_id}/events")).text)  # streams until the final event
        body = await _wait(b, job_id, lambda j: j["status"] == "done")
        assert (await a.get(f"/jobs/{job_id}")).json() == body
        rest = _events((await a.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "3"})).text)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done" and kinds.count("segment") == 8
    assert [e["done"] for e in events if e["event"] == "segment"] == list(range(1, 9))
    assert [e["id"] for e in events] == list(range(len(events)))
    assert [e["id"] for e in rest] == [e["id"] for e in events[4:]]
    assert all(f"$x_{i}$" in body["result"]["markdown"] for i in range(8))
    assert body["progress"] == {"done": 8, "total": 8}
    # an unknown job is a 404 on every replica
    async with AsyncExitStack() as stack:
        c = await _replica(stack, tmp_path, "c", store_url, FakeEngine())
        assert (await c.get("/jobs/" + "0" * 32)).status_code == 404


async def test_job_of_a_dead_replica_resumes_elsewhere_without_redoing_segments(
    tmp_path: Path, store_url: str
) -> None:
    engine_a, engine_b = OneAtATime(0.15), OneAtATime(0.05)
    async with AsyncExitStack() as stack:
        async with AsyncExitStack() as stack_a:
            a = await _replica(stack_a, tmp_path, "a", store_url, engine_a)
            job_id = (await a.post("/jobs", json={"markdown": DOC})).json()["id"]
            await _wait(a, job_id, lambda j: j["progress"]["done"] >= 3)
            await a.app.state.jobs.close(release=False)  # A dies: no release, its lease runs out
            progress = (await a.get(f"/jobs/{job_id}")).json()["progress"]["done"]
        finished_by_a = {r.source for r in engine_a.requests[:progress]}
        b = await _replica(stack, tmp_path, "b", store_url, engine_b)
        body = await _wait(b, job_id, lambda j: j["status"] == "done")
        events = _events((await b.get(f"/jobs/{job_id}/events")).text)
    done_by_a = sum(1 for e in events if e["event"] == "segment" and e["id"] < _first(events, "resumed"))
    assert done_by_a >= 3
    resumed = events[_first(events, "resumed")]
    assert resumed["done"] == done_by_a and resumed["total"] == 8
    # B translated only what A had not finished; every segment reported once; the document is complete
    assert len(engine_b.requests) == 8 - done_by_a
    assert not {r.source for r in engine_b.requests} & finished_by_a
    segs = [e for e in events if e["event"] == "segment"]
    assert sorted(e["segment"]["id"] for e in segs) == sorted(s["id"] for s in body["result"]["segments"])
    assert [e["done"] for e in segs] == list(range(1, 9)) and events[-1]["event"] == "done"
    assert all(f"$x_{i}$" in body["result"]["markdown"] for i in range(8))
    assert all(s["status"] != "fallback" for s in body["result"]["segments"])


def _first(events: list[dict[str, Any]], kind: str) -> int:
    return next(i for i, e in enumerate(events) if e["event"] == kind)
