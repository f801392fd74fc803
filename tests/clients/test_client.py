"""The Python client against a live server on the fake engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from papertrans.clients import ApiError, AsyncClient, Client, ClientError, JobFailed, ServerUnavailable

from .conftest import ADMIN_KEY

DOC = (
    "# Title\n\nThe attention mechanism lets the model focus on relevant tokens $a_t = \\sum_i x_i$.\n\n"
    "We see `code` here.\n"
)


def test_translate_health_and_translation_readback(live_server: str) -> None:
    with Client(live_server) as client:
        health = client.health()
        assert health.model == "fake"
        result = client.translate(DOC, glossary={"attention": "注意力"})
        assert result.translation_id and result.model == "fake"
        assert "$a_t = \\sum_i x_i$" in result.markdown and "`code`" in result.markdown
        assert {s.status for s in result.segments} <= {"ok", "retried", "fallback"}
        assert result.stats.segments == len(result.segments) >= 2
        assert result.stats.glossary_adherence is not None
        stored = client.translation(result.translation_id)
        assert stored["id"] == result.translation_id
    with Client(live_server, admin_key=ADMIN_KEY) as admin:
        assert isinstance(admin.adapters(), list)


def test_job_with_events_and_progress(live_server: str) -> None:
    seen: list[tuple[int, int]] = []
    with Client(live_server) as client:
        job_id = client.submit_job(DOC)
        result = client.wait_job(job_id, on_progress=lambda d, t, e: seen.append((d, t)))
        job = client.job(job_id)
        events = list(client.job_events(job_id))  # a finished job replays its events, then the stream ends
    assert job.finished and job.result is not None and job.result.markdown == result.markdown
    assert seen[-1][0] == seen[-1][1] == len(result.segments)
    assert [e["event"] for e in events][-1] == "done"
    assert sum(1 for e in events if e["event"] == "segment") == len(result.segments)


def test_wait_job_by_polling(live_server: str) -> None:
    with Client(live_server) as client:
        result = client.wait_job(client.submit_job(DOC), use_events=False, poll_interval=0.05)
    assert "$a_t = \\sum_i x_i$" in result.markdown


def test_errors_are_typed(live_server: str, dead_url: str) -> None:
    with Client(live_server) as client:
        with pytest.raises(ApiError) as err:
            client.translate(DOC, adapter="no-such-adapter")
        assert 400 <= err.value.status < 500 and err.value.code
        with pytest.raises(ApiError) as err:
            client.job("0" * 32)
        assert err.value.status == 404 and err.value.code == "unknown_job"
        with pytest.raises(ApiError) as err:
            client.feedback("nope", "s0", rating="up")
        assert err.value.status == 404
    with Client(dead_url, timeout=2) as client, pytest.raises(ServerUnavailable, match="unavailable"):
        client.health()


def test_feedback_and_comparison_roundtrip(live_server: str) -> None:
    with Client(live_server) as client:
        result = client.translate(DOC)
        seg = next(s for s in result.segments if "$" in s.source)
        out = client.feedback(result.translation_id or "", seg.id, rating="down", comment="odd wording",
                              idempotency_key="k-1")
        again = client.feedback(result.translation_id or "", seg.id, rating="down", comment="odd wording",
                                idempotency_key="k-1")
        assert out == again  # a retried write is not recorded twice
        with pytest.raises(ApiError) as err:  # a correction that drops the formula is refused
            client.feedback(result.translation_id or "", seg.id, correction="没有公式。")
        assert err.value.status == 422
        comparison = client.create_comparison(result.translation_id or "", seg.id, variants=["current", "base"])
        assert comparison.id and comparison.a and comparison.b
        assert client.choose(comparison.id, "a")["choice"] == "a"
        stats = client.feedback_stats()
        assert stats


def test_async_client(live_server: str) -> None:
    async def run() -> tuple[str, str]:
        async with AsyncClient(live_server) as client:
            direct = await client.translate(DOC)
            job = await client.wait_job(await client.submit_job(DOC))
            return direct.markdown, job.markdown

    direct, via_job = asyncio.run(run())
    assert direct == via_job


def test_failed_job_raises(server_with: object) -> None:
    from papertrans.server.engine.fake import FakeEngine

    class Broken(FakeEngine):
        def count_tokens(self, text: str) -> int:
            raise RuntimeError("tokenizer exploded")

    with server_with(Broken()) as url, Client(url) as client:  # type: ignore[operator]
        job_id = client.submit_job(DOC)
        with pytest.raises(JobFailed, match="tokenizer exploded"):
            client.wait_job(job_id)


def test_adapter_admin_roundtrip(server_with: object, tmp_path: Path) -> None:
    """The calls ``rl publish`` makes: register, activate, translate through it, rollback, delete."""
    from papertrans.server.engine.fake import FakeEngine

    for folder in ("demo-v1", "demo-v2"):
        (tmp_path / "server" / "adapters" / folder).mkdir(parents=True)
        (tmp_path / "server" / "adapters" / folder / "adapter_config.json").write_text('{"r": 8}')
    with server_with(FakeEngine(), admin_key=ADMIN_KEY) as url, Client(url, admin_key=ADMIN_KEY) as admin:  # type: ignore[operator]
        v1 = admin.register_adapter_version("demo", "demo-v1")
        v2 = admin.register_adapter_version("demo", "demo-v2")
        assert (v1["version"], v2["version"]) == (1, 2) and v1["served_name"] == "demo@1"
        admin.activate_adapter("demo", 1)
        admin.activate_adapter("demo", 2)
        listing = admin.adapters()
        assert next(a for a in listing if a["name"] == "demo")["active"] == 2
        assert admin.translate(DOC, adapter="demo").adapter in ("demo@2", "demo")
        admin.rollback_adapter("demo")
        assert next(a for a in admin.adapters() if a["name"] == "demo")["active"] == 1
        admin.delete_adapter_version("demo", 2)
        with pytest.raises(ApiError) as err:
            admin.register_adapter_version("demo", "../../etc")
        assert err.value.code == "folder_outside_store"
    with server_with(FakeEngine(), admin_key=ADMIN_KEY) as url, Client(url) as anonymous:  # type: ignore[operator]
        with pytest.raises(ApiError) as err:
            anonymous.activate_adapter("demo", 1)
        assert err.value.status == 401


def test_answers_not_from_a_papertrans_server() -> None:
    """No guessing at shapes: a body without the server's fields is a ClientError naming the request; an error page
    from something in between (a proxy) is an ApiError with an ``http_<status>`` code."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/translate":
            return httpx.Response(200, json={"result": {"text": "你好"}})
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    with Client("http://proxy.invalid", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ClientError, match="unexpected answer to POST /translate"):
            client.translate(DOC)
        with pytest.raises(ApiError) as err:
            client.health()
    assert (err.value.status, err.value.code) == (502, "http_502") and "Bad Gateway" in err.value.detail


def test_sync_client_is_the_async_one() -> None:
    """Client's methods are AsyncClient's, run to completion (one implementation, the same documentation)."""
    for name in ("translate", "submit_job", "job", "wait_job", "feedback", "create_comparison", "choose"):
        assert getattr(Client, name).__wrapped__ is getattr(AsyncClient, name)
        assert getattr(Client, name).__doc__ == getattr(AsyncClient, name).__doc__


def test_wait_job_follows_the_server_events_including_a_takeover() -> None:
    """The events as server/jobs_folder.py and server/jobs_db.py write them: a 'resumed' event (another replica took the
    job over; its total may still be null) keeps the progress going, 'done' ends the stream."""
    import json

    result = {"translation_id": "j1", "markdown": "译文", "model": "fake", "adapter": None,
              "segments": [{"id": "s0", "source": "a", "translation": "甲", "status": "ok", "reasons": []},
                           {"id": "s1", "source": "b", "translation": "乙", "status": "ok", "reasons": []}],
              "stats": {"segments": 2, "chunks": 1, "tokens_in": 4, "tokens_out": 4, "seconds": 0.1, "fallbacks": 0,
                        "retries": 0, "glossary_adherence": None}}
    events = [{"type": "started", "total": 2}, {"type": "resumed", "done": 1, "total": None, "detail": "replica"},
              {"type": "segment", "done": 2, "total": 2, "segment": result["segments"][1]},
              {"type": "done", "translation_id": "j1", "stats": result["stats"]}]
    polls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jobs/j1/events":
            body = "".join(f"id: {i}\nevent: {e['type']}\ndata: {json.dumps({'seq': i, **e})}\n\n"
                           for i, e in enumerate(events))
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        polls["n"] += 1
        running = polls["n"] == 1
        return httpx.Response(200, json={
            "id": "j1", "status": "running" if running else "done", "created_at": 0.0, "finished_at": None,
            "progress": {"done": 0 if running else 2, "total": None if running else 2}, "error": None,
            "result": None if running else result})

    seen: list[tuple[int, int, str | None]] = []
    with Client("http://server.invalid", transport=httpx.MockTransport(handler)) as client:
        out = client.wait_job("j1", on_progress=lambda d, t, e: seen.append((d, t, e and e["type"])))
    assert out.markdown == "译文" and out.stats.segments == 2
    assert seen == [(0, 0, None), (0, 2, "started"), (1, 2, "resumed"), (2, 2, "segment"), (2, 2, "done")]
