"""Jobs: background translation, progress, server-sent events, resume after reconnect and after a restart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import AppClient, serve

DOC = "# A title\n\nFirst paragraph of the paper.\n\nSecond paragraph with $x$.\n\nThird one."


def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            out.append({"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])})
    return out


async def _wait_done(c: AppClient, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        body = (await c.get(f"/jobs/{job_id}")).json()
        if body["status"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError("job did not finish")


async def test_job_runs_and_streams_events(app_factory: Any) -> None:
    async with serve(app_factory(FakeEngine(delay=0.05))) as c:
        r = await c.post("/jobs", json={"markdown": DOC})
        assert r.status_code == 202
        job_id = r.json()["id"]
        first = (await c.get(f"/jobs/{job_id}")).json()
        assert first["status"] in ("queued", "running") and first["result"] is None
        r = await c.get(f"/jobs/{job_id}/events")  # streams until the final event
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events(r.text)
        body = await _wait_done(c, job_id)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done"
    segments = [e for e in events if e["event"] == "segment"]
    assert len(segments) == events[0]["total"] == body["progress"]["total"] == 4
    assert [e["done"] for e in segments] == [1, 2, 3, 4]
    assert [e["id"] for e in events] == list(range(len(events)))
    assert body["status"] == "done" and "$x$" in body["result"]["markdown"]
    assert events[-1]["translation_id"] == body["result"]["translation_id"]


async def test_events_resume_after_last_event_id(app_factory: Any) -> None:
    async with serve(app_factory()) as c:
        job_id = (await c.post("/jobs", json={"markdown": DOC})).json()["id"]
        await _wait_done(c, job_id)
        all_events = _events((await c.get(f"/jobs/{job_id}/events")).text)
        rest = _events((await c.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "2"})).text)
        assert [e["id"] for e in rest] == [e["id"] for e in all_events[3:]]
        bad = await c.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 400


async def test_job_results_survive_a_restart(app_factory: Any) -> None:
    async with serve(app_factory()) as c:
        job_id = (await c.post("/jobs", json={"markdown": DOC})).json()["id"]
        done = await _wait_done(c, job_id)
    async with serve(app_factory()) as c:  # same data folder, new process state
        again = (await c.get(f"/jobs/{job_id}")).json()
        events = _events((await c.get(f"/jobs/{job_id}/events")).text)
    assert again["result"] == done["result"]
    assert events[-1]["event"] == "done"


async def test_job_interrupted_by_shutdown_resumes_after_restart(app_factory: Any, tmp_path: Any) -> None:
    engine = FakeEngine(delay=30.0)
    async with serve(app_factory(engine)) as c:
        job_id = (await c.post("/jobs", json={"markdown": DOC})).json()["id"]
        for _ in range(100):
            if engine.in_flight:
                break
            await asyncio.sleep(0.02)
    assert engine.aborted  # shutting down aborted the job's engine requests
    stored = json.loads((tmp_path / "data" / "jobs" / f"{job_id}.json").read_text())
    assert stored["status"] == "queued"  # left resumable, not failed
    async with serve(app_factory()) as c:  # the next start queues it again and it finishes
        body = await _wait_done(c, job_id)
        events = _events((await c.get(f"/jobs/{job_id}/events")).text)
    assert body["status"] == "done" and "$x$" in body["result"]["markdown"]
    assert "requeued" in [e["event"] for e in events] and events[-1]["event"] == "done"
    assert not (tmp_path / "data" / "jobs" / f"{job_id}.request.json").exists()  # finished: request dropped


async def test_job_without_its_request_file_is_reported_interrupted(app_factory: Any, tmp_path: Any) -> None:
    engine = FakeEngine(delay=30.0)
    async with serve(app_factory(engine)) as c:
        job_id = (await c.post("/jobs", json={"markdown": DOC})).json()["id"]
    (tmp_path / "data" / "jobs" / f"{job_id}.request.json").unlink()
    async with serve(app_factory()) as c:
        body = (await c.get(f"/jobs/{job_id}")).json()
        events = _events((await c.get(f"/jobs/{job_id}/events")).text)
    assert body["status"] == "failed" and body["error"]["error"] == "interrupted"
    assert events[-1]["event"] == "error"


async def test_finished_jobs_leave_memory_but_stay_readable(app_factory: Any) -> None:
    async with serve(app_factory()) as c:
        jobs = c.app.state.jobs
        ids = [(await c.post("/jobs", json={"markdown": f"Text number {i}."})).json()["id"] for i in range(3)]
        for job_id in ids:
            await _wait_done(c, job_id)
        jobs._forget_old(keep=1)
        assert len(jobs._jobs) == 1
        for job_id in ids:
            body = (await c.get(f"/jobs/{job_id}")).json()
            assert body["status"] == "done" and body["result"]["markdown"]


class _Unbolding(FakeEngine):
    """Drops every ``**``: each attempt keeps its placeholders but fails the ``markup_changed`` faithfulness check."""

    def translate(self, source: str) -> str:
        return super().translate(source).replace("**", "")


async def test_a_needs_review_segment_is_visible_in_the_stream(app_factory: Any) -> None:
    async with serve(app_factory(_Unbolding())) as c:
        job_id = (await c.post("/jobs", json={"markdown": "The **attention** model.\n\nThe model."})).json()["id"]
        events = _events((await c.get(f"/jobs/{job_id}/events")).text)
        body = await _wait_done(c, job_id)
    flagged = {e["segment"]["id"]: e["segment"] for e in events if e["event"] == "segment"}
    assert flagged["s0"]["status"] == "needs_review" and "markup_changed" in flagged["s0"]["reasons"]
    assert flagged["s0"]["translation"] != flagged["s0"]["source"]  # kept, not fallen back
    assert flagged["s1"]["status"] == "ok"
    assert events[-1]["event"] == "done" and events[-1]["stats"]["needs_review"] == 1
    assert body["result"]["stats"]["needs_review"] == 1
    assert [s["status"] for s in body["result"]["segments"]] == ["needs_review", "ok"]
