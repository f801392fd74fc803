"""The remote engine on a REAL ``vllm serve`` (embedded model, CPU, LoRA on, the placeholder constraint loaded),
the session's shared server (``served_vllm`` in tests/server/conftest.py), stopped with its children at the end.

- a dev document through a papertrans app whose engine is the remote pool: every protected span intact, the starter
  adapter loaded into vllm serve at runtime (``/v1/load_lora_adapter``) and serving;
- the placeholder constraint reaches vLLM through ``vllm_xargs``: constrained outputs carry each placeholder once;
- two endpoints (the second a TCP proxy to the same server), the proxy killed mid-document: no segment lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from papertrans import protect
from papertrans.contract.prompts import build_prompt
from papertrans.server.app import create_app
from papertrans.server.engine import EngineSettings, SamplingOptions
from papertrans.server.engine.remote import RemoteEngine
from papertrans.server.settings import Settings
from tests.server._preserve import assert_document_intact
from tests.server._vllm_serve import free_port
from tests.server.conftest import make_settings, serve

pytestmark = [pytest.mark.engine, pytest.mark.slow]

DOC = "d2l-en__reinforcement-learning__value-iter.md"


@pytest.fixture
def vllm_url(served_vllm: tuple[str, Path]) -> str:
    return served_vllm[0]


class TcpProxy:
    """A second endpoint: forwards connections to the real server; :meth:`kill` drops it and every open
    connection at once, the way a dying host looks to a client."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def kill(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        await self._server.wait_closed()


def _doc(corpus_dir: Path) -> str:
    return (corpus_dir / "docs" / DOC).read_text(encoding="utf-8")


async def test_dev_document_on_vllm_serve(vllm_url: str, corpus_dir: Path, tmp_path: Path) -> None:
    source = _doc(corpus_dir)
    settings = make_settings(tmp_path, engine=EngineSettings(urls=[vllm_url]), engine_check_s=0)
    async with serve(create_app(settings)) as c:  # its own engine: the remote pool, starter adapter installed
        started = time.perf_counter()
        r = await c.post("/translate", json={"markdown": source})
        seconds = time.perf_counter() - started
        health = (await c.get("/health")).json()
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert_document_intact(source, body)
    stats = body["stats"]
    print(
        f"\n{DOC} via vllm serve: {stats['segments']} segments, {stats['fallbacks']} fallbacks, "
        f"{stats['retries']} retries, adapter {body['adapter']}, {seconds:.1f} s"
    )
    assert stats["fallbacks"] < stats["segments"]
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in body["markdown"]) > 100
    assert health["engine"]["endpoints"][0]["healthy"] and health["engine"]["endpoints"][0]["served"] > 0
    # the starter adapter was loaded into vllm serve at runtime and served the document
    assert body["adapter"] and body["adapter"].startswith("papertrans-zh@")
    models = httpx.get(f"{vllm_url}/v1/models").json()["data"]
    assert body["adapter"] in {m["id"] for m in models}


async def test_constraint_reaches_vllm_through_xargs(vllm_url: str, corpus_dir: Path) -> None:
    from transformers import AutoTokenizer

    from papertrans.contract.model import resolve_model

    base = Settings()  # type: ignore[call-arg]
    model_path = resolve_model(base.model, base.cache_dir)
    tok = AutoTokenizer.from_pretrained(str(model_path))
    segments = [s for s in protect.protect(_doc(corpus_dir)).segments if len(s.placeholders) >= 2][:8]
    faults: dict[bool, int] = {}
    decided: dict[bool, int] = {}
    for constrain in (True, False):
        engine = RemoteEngine(
            [vllm_url], tokenizer=tok, model_name="gemma", settings=EngineSettings(constrain_placeholders=constrain)
        )
        engine.served_model = model_path.name
        gens = []
        for seg in segments:
            prompt, stop = build_prompt(engine, seg.text)
            options = SamplingOptions(max_tokens=160, stop=tuple(stop), placeholders=tuple(seg.placeholders))
            gens.append(await engine.generate(prompt, options, request_id=f"c{constrain}"))
        await engine.close()
        # A repetition stop is the client cutting a looping stream (the constraint cannot see it coming): it is
        # retried and validated like an empty output. Every output the model itself ended (a stop or max_tokens)
        # must hold each placeholder exactly once when constrained.
        ended = [(seg, g) for seg, g in zip(segments, gens, strict=True) if g.finish_reason != "repetition"]
        decided[constrain] = len(ended)
        faults[constrain] = sum(not _exact(g.text, seg.placeholders) for seg, g in ended)
        for seg, g in ended:
            if not _exact(g.text, seg.placeholders):
                print(f"\nconstrained={constrain} {list(seg.placeholders)} {g.finish_reason!r}: {g.text[:300]!r}")
    print(
        f"\n{len(segments)} segments; ended by the model (not cut for repetition): constrained {decided[True]}, "
        f"free {decided[False]}; of those with a placeholder fault: constrained {faults[True]}, free {faults[False]}"
    )
    assert decided[True] >= len(segments) // 2, decided
    assert faults[True] == 0, faults
    assert faults[False] > 0, "the segments no longer show what the constraint prevents"


def _exact(text: str, placeholders: Any) -> bool:
    return all(text.count(p) == 1 for p in placeholders)


@pytest.fixture
async def proxy(vllm_url: str) -> AsyncIterator[TcpProxy]:
    p = TcpProxy(int(vllm_url.rsplit(":", 1)[1]))
    await p.start()
    yield p
    await p.kill()


async def test_killing_one_endpoint_mid_document_loses_no_segment(
    vllm_url: str, proxy: TcpProxy, corpus_dir: Path, tmp_path: Path
) -> None:
    source = "\n\n".join(_doc(corpus_dir).split("\n\n")[:24])  # a dozen prose paragraphs keep it short
    urls = [f"http://127.0.0.1:{proxy.port}", vllm_url]
    settings = make_settings(tmp_path, engine=EngineSettings(urls=urls, endpoint_retry_s=600), engine_check_s=0)
    async with serve(create_app(settings)) as c:
        engine = c.app.state.engine
        task = asyncio.create_task(c.post("/translate", json={"markdown": source}))
        while engine.endpoints[0].served < 2:  # the proxied endpoint has answered some segments; others in flight
            await asyncio.sleep(0.05)
            assert not task.done(), task.result().text[:300]
        await proxy.kill()
        r = await task
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert_document_intact(source, body)
    served = [e.served for e in engine.endpoints]
    print(f"\nserved per endpoint: {served}, statuses {[s['status'] for s in body['segments']]}")
    assert not engine.endpoints[0].healthy and served[1] > 0
    # failover is inside the engine: no segment saw an engine error (a fallback here is the model's, not the kill's)
    assert not [s for s in body["segments"] if "engine_error" in s["reasons"]]
    assert len(body["segments"]) == body["stats"]["segments"]


# -- two papertrans replicas (real processes) on PostgreSQL, one vllm serve ------------------------------------------


class Replica:
    """``papertrans serve`` in a process of its own (so that it can be killed with SIGKILL)."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        import os
        import subprocess
        import sys

        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, **env, "PAPERTRANS_PORT": str(self.port)}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "papertrans.cli", "serve"],
                env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.log = log

    async def ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as c:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await c.get(f"{self.url}/health", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise TimeoutError(self.log.read_text()[-3000:])

    def stop(self) -> None:
        from tests.server._vllm_serve import stop_group

        stop_group(self.proc, wait_s=30)


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    from tests.feedback.conftest import PG_URL, drop_database, fresh_settings

    if not PG_URL:
        pytest.skip("PAPERTRANS_TEST_PG_URL is not set")
    settings, db = await fresh_settings("postgres", tmp_path)
    try:
        assert settings.store.url
        yield settings.store.url
    finally:
        await drop_database(db)


async def _job_lease_owner(pg: str, job_id: str) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    eng = create_async_engine(pg)
    try:
        async with eng.connect() as conn:
            row = (await conn.execute(text("SELECT lease_owner FROM jobs WHERE id = :id"), {"id": job_id})).first()
    finally:
        await eng.dispose()
    return row[0] if row else None


async def test_two_replicas_on_postgres_publish_once_and_survive_kill_9(
    vllm_url: str, pg_url: str, corpus_dir: Path, tmp_path: Path
) -> None:
    import os
    import signal

    from papertrans.contract.model import resolve_model
    from tests.server._lora import make_random_lora
    from tests.server.conftest import ADMIN, ADMIN_KEY
    from tests.server.test_jobs import _events

    adapters = tmp_path / "adapters"
    base = Settings()  # type: ignore[call-arg]
    make_random_lora(Path(resolve_model(base.model, base.cache_dir)), adapters / "tiny-run1", seed=1)
    env = {
        "PAPERTRANS_ENGINE__URLS": f'["{vllm_url}"]',
        "PAPERTRANS_STORE__URL": pg_url,
        "PAPERTRANS_ADAPTERS_DIR": str(adapters),
        "PAPERTRANS_ADMIN_KEY": ADMIN_KEY,
        "PAPERTRANS_JOB_LEASE_S": "6",
        "PAPERTRANS_DEFAULT_ADAPTER": "none",
    }
    replicas = {n: Replica(n, {**env, "PAPERTRANS_DATA_DIR": str(tmp_path / n)}, tmp_path / f"{n}.log") for n in "ab"}
    try:
        await asyncio.gather(*(r.ready() for r in replicas.values()))
        a, b = replicas["a"], replicas["b"]
        async with httpx.AsyncClient(timeout=600) as c:
            # publish once (through A): both replicas serve it
            r = await c.post(f"{a.url}/adapters/tiny/versions", json={"folder": "tiny-run1"}, headers=ADMIN)
            assert r.status_code == 201, r.text
            assert (await c.post(f"{a.url}/adapters/tiny/activate", json={"version": 1}, headers=ADMIN)).is_success
            await asyncio.sleep(3)  # B's registry sync (ADAPTER_SYNC_S = 2 s)
            for rep in (a, b):
                t = await c.post(f"{rep.url}/translate", json={"markdown": "The model reads.", "adapter": "tiny"})
                assert t.status_code == 200 and t.json()["adapter"] == "tiny@1", t.text[:300]
            # a job: kill -9 the replica that runs it once it has finished some segments
            prose = [p for p in _doc(corpus_dir).split("\n\n") if p.strip() and not p.startswith(("#", ":"))]
            doc = "\n\n".join(prose[:10])
            job_id = (await c.post(f"{a.url}/jobs", json={"markdown": doc})).json()["id"]
            for _ in range(1500):  # 5 minutes: CI's machine has run this suite 4x slower than a quiet one
                job = (await c.get(f"{a.url}/jobs/{job_id}")).json()
                if job["progress"]["done"] >= 2 or job["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.2)
            assert job["status"] == "running", job
            owner = await _job_lease_owner(pg_url, job_id)
            assert owner is not None
            pid = int(owner.rsplit("-", 2)[-2])
            victim = next(r for r in replicas.values() if r.proc.pid == pid)
            survivor = b if victim is a else a
            os.kill(victim.proc.pid, signal.SIGKILL)
            for _ in range(3000):  # 10 minutes for the survivor to finish the document
                job = (await c.get(f"{survivor.url}/jobs/{job_id}")).json()
                if job["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.2)
            assert job["status"] == "done", job
            events = _events((await c.get(f"{survivor.url}/jobs/{job_id}/events")).text)
    finally:
        for rep in replicas.values():
            rep.stop()
    kinds = [e["event"] for e in events]
    print(f"\njob events after kill -9 of replica {victim.name}: {kinds.count('segment')} segments, {kinds}")
    assert "resumed" in kinds and kinds[-1] == "done"
    segment_ids = [e["segment"]["id"] for e in events if e["event"] == "segment"]
    # every segment reported exactly once: the survivor did not redo what the dead replica finished
    assert len(segment_ids) == len(set(segment_ids)) == job["progress"]["total"]
    # the resume after the kill is the last one: on a loaded machine a replica whose event loop stalls past its lease
    # may lose the job earlier (a "resumed" with fewer segments), which is the same guarantee at work
    last = len(kinds) - 1 - kinds[::-1].index("resumed")
    resumed = events[last]
    assert resumed["done"] >= 2 and resumed["done"] == kinds[:last].count("segment")
    assert_document_intact(doc, job["result"])
