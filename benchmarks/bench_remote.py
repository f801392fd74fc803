"""The remote path of the server benchmark (part (a) of bench_server.py, on a ``vllm serve`` instead of AsyncLLM):
``POST /translate`` through a papertrans app whose engine is the remote pool, vs raw ``/v1/completions`` requests to
the same ``vllm serve`` with exactly the prompts (and sampling bodies) the pipeline sent, replayed with the same
per-segment retry order -> time ratio, target <= 1.10.

Run (it starts vllm serve unless --url is given, so take the heavy lock on the shared machine):

    .venv/bin/python benchmarks/bench_remote.py [--url http://127.0.0.1:8000] [--doc FILE] [--reps 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_server import DEV, Recorder, chains, row, serve

from papertrans.contract.model import resolve_model
from papertrans.server.engine.remote import VLLM_SERVE_ENV, RemoteEngine, vllm_serve_command
from papertrans.server.settings import Settings


async def replay_raw(engine: RemoteEngine, url: str, segs: list[Any]) -> tuple[float, int]:
    """Raw HTTP: every segment's attempts in order, all segments at once; returns (seconds, tokens out)."""
    tokens = 0

    async with httpx.AsyncClient(timeout=3600) as client:

        async def one(c: Any) -> None:
            nonlocal tokens
            body = engine._body(c.prompt, c.options, c.adapter, stream=False)  # the body the engine sends
            r = await client.post(f"{url}/v1/completions", json=body)
            r.raise_for_status()
            tokens += int(r.json()["usage"]["completion_tokens"])

        async def seg(attempts: list[list[Any]]) -> None:
            for pieces in attempts:
                await asyncio.gather(*(one(c) for c in pieces))

        t0 = time.perf_counter()
        await asyncio.gather(*(seg(a) for a in segs))
        return time.perf_counter() - t0, tokens


async def run(url: str, model_dir: Path, settings: Settings, doc: Path, reps: int, blocks: int = 0) -> None:
    from papertrans.server.app import create_app

    engine = await RemoteEngine.start([url], model_dir, settings.engine)
    rec = Recorder(engine)  # type: ignore[arg-type]  # passes everything else to the remote engine
    source = doc.read_text(encoding="utf-8")
    if blocks:
        source = "\n\n".join(source.split("\n\n")[:blocks])
    times_http: list[float] = []
    times_raw: list[float] = []
    tokens = 0
    try:
        async with serve(create_app(settings, engine=rec)) as c:  # type: ignore[arg-type]
            r = await c.post("/translate", json={"markdown": source})  # warm-up
            r.raise_for_status()
            row("r", "document", f"{doc.name}: {r.json()['stats']['segments']} segments, {len(rec.calls)} requests")
            for _ in range(reps):
                rec.calls.clear()
                t0 = time.perf_counter()
                r = await c.post("/translate", json={"markdown": source})
                r.raise_for_status()
                times_http.append(time.perf_counter() - t0)
                seconds, tokens = await replay_raw(engine, url, chains(rec.calls))
                times_raw.append(seconds)
    finally:
        await engine.close()
    http, raw = statistics.median(times_http), statistics.median(times_raw)
    row("r", "POST /translate on vllm serve (median)", f"{http:.1f} s  {times_http}")
    row("r", "raw /v1/completions, same prompts (median)", f"{raw:.1f} s, {tokens} tokens out")
    row("r", "ratio translate/raw (target <= 1.10)", f"{http / raw:.3f}")


def start_vllm(model_dir: Path, settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **VLLM_SERVE_ENV, "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = vllm_serve_command(model_dir, settings.engine, port=port, python=sys.executable)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm serve exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    row("-", "vllm serve", f"ready in {time.perf_counter() - t0:.0f} s at {url}")
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="a running vllm serve (default: start one on the embedded model)")
    ap.add_argument("--doc", type=Path, default=DEV / "docs" / "d2l-en__reinforcement-learning__value-iter.md")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--doc-paragraphs", type=int, default=0, help="only the first N blocks of the document (0 = all)")
    args = ap.parse_args()
    # a timeout's SIGTERM must still stop the vllm serve this started (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        # the base model, as part (a) measures it (the starter adapter would need the fleet's adapter store)
        settings = Settings(data_dir=Path(tmp) / "data", default_adapter="none")  # type: ignore[call-arg]
        model_dir = Path(resolve_model(settings.model, settings.cache_dir))
        proc, url = (None, args.url) if args.url else start_vllm(model_dir, settings, Path(tmp) / "vllm.log")
        try:
            asyncio.run(run(url, model_dir, settings, args.doc, args.reps, args.doc_paragraphs))
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)


if __name__ == "__main__":
    main()
