"""Load: N concurrent clients mixing /translate, jobs and feedback for a fixed time, with one adapter swap midway,
against a real server process (`papertrans serve`) on the fake or the real embedded engine.

Every answer is classified: ``ok`` (2xx), ``refused`` (429/503 *with* Retry-After: backpressure working as designed)
or ``error`` (anything else: a 5xx, a 503 without Retry-After, an unexpected 4xx, a timeout or a dropped connection).
Prints errors, p50/p99 latency per operation, the server's memory (RSS of it and its children) before and after,
and writes the figures as JSON.

    .venv/bin/python benchmarks/bench_load.py --engine fake --clients 64 --duration 30
    flock <lock> .venv/bin/python benchmarks/bench_load.py --engine real --clients 16 --duration 90 \\
        --limit translate_running=2 --limit translate_waiting=4 --limit wait_timeout_s=20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
ADMIN = {"X-Admin-Key": "bench-admin"}
PARAGRAPHS = [
    "The attention mechanism lets the model focus on relevant tokens.",
    "We minimize the loss $L(\\theta) = \\sum_i \\ell(x_i)$ with stochastic gradient descent [1].",
    "Table 2 reports the accuracy of each model on the test set, see `eval.py`.",
    "In practice, we rarely train such networks from scratch; we fine-tune a pretrained model.",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return round(total / 2**20, 1)


def _adapter(store: Path, name: str, engine: str, seed: int) -> None:
    if engine == "fake":  # the fake engine never reads weights
        (store / name).mkdir(parents=True, exist_ok=True)
        (store / name / "adapter_config.json").write_text(json.dumps({"r": 4, "peft_type": "LORA"}))
        return
    sys.path.insert(0, str(REPO))
    from papertrans.contract.model import resolve_model
    from tests.server._lora import make_random_lora  # the same tiny random LoRA the engine tests use

    make_random_lora(Path(resolve_model("embedded:gemma-3-270m", None)), store / name, seed=seed,
                     targets=("q_proj", "k_proj", "v_proj", "o_proj"))


class Server:
    def __init__(self, args: argparse.Namespace, data: Path, keys: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PAPERTRANS_MODEL": "fake:0.05" if args.engine == "fake" else "embedded:gemma-3-270m",
            "PAPERTRANS_DATA_DIR": str(data),
            "PAPERTRANS_ADMIN_KEY": ADMIN["X-Admin-Key"],
            "PAPERTRANS_API_KEYS": json.dumps(keys),
            "PYTHONPATH": str(REPO),
        }
        for item in args.limit:
            key, _, value = item.partition("=")
            self.env[f"PAPERTRANS_LIMITS__{key.upper()}"] = value
        self.log = (data / "server.log").open("ab")
        cmd = [sys.executable, "-m", "papertrans.cli", "serve", "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                try:
                    if (await c.get(f"{self.url}/health", timeout=5)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise RuntimeError("server did not become ready")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9
        finally:
            self.log.close()


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.samples: list[str] = []

    def record(self, op: str, started: float, response: httpx.Response | None, exc: Exception | None = None) -> str:
        self.latency[op].append(time.perf_counter() - started)
        if response is None:
            kind, detail = "error", f"{op}: {type(exc).__name__}: {exc}"
        elif response.status_code < 300:
            kind, detail = "ok", ""
        elif response.status_code in (429, 503) and "retry-after" in response.headers:
            kind, detail = "refused", ""
        else:
            kind, detail = "error", f"{op}: {response.status_code} {response.text[:200]}"
        self.outcomes[(op, kind)] += 1
        if detail and len(self.samples) < 10:
            self.samples.append(detail)
        return kind


def _doc(rng: random.Random) -> str:
    return "\n\n".join(rng.sample(PARAGRAPHS, rng.randint(1, 3)))


async def client(i: int, key: str, url: str, until: float, tally: Tally, tids: list[str], timeout: float) -> None:
    rng = random.Random(i)
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout) as c:
        while time.monotonic() < until:
            op = rng.choices(["translate", "job", "feedback"], weights=[5, 2, 3])[0]
            if op == "feedback" and not tids:
                op = "translate"
            t0 = time.perf_counter()
            try:
                if op == "translate":
                    r = await c.post("/translate", json={"markdown": _doc(rng)})
                    if tally.record(op, t0, r) == "ok":
                        tids.append(r.json()["translation_id"])
                elif op == "job":
                    r = await c.post("/jobs", json={"markdown": _doc(rng)})
                    if tally.record("job_submit", t0, r) == "ok":
                        job = r.json()["id"]
                        while time.monotonic() < until + timeout:
                            t1 = time.perf_counter()
                            s = await c.get(f"/jobs/{job}")
                            tally.record("job_poll", t1, s)
                            if s.status_code != 200 or s.json()["status"] in ("done", "failed"):
                                if s.status_code == 200 and s.json()["status"] == "failed":
                                    tally.record("job_failed", t1, None, RuntimeError(str(s.json()["error"])))
                                break
                            await asyncio.sleep(0.5)
                else:
                    body = {"translation_id": rng.choice(tids), "segment_id": "s0",
                            "rating": rng.choice(["up", "down"]), "comment": f"client {i}"}
                    r = await c.post("/feedback", json=body, headers={"Idempotency-Key": f"{i}-{rng.random()}"})
                    tally.record(op, t0, r)
            except httpx.HTTPError as exc:
                tally.record(op, t0, None, exc)
            if tally.outcomes[(op, "refused")] and rng.random() < 0.5:
                await asyncio.sleep(1.0)  # a polite client backs off a little after a refusal


async def swap(url: str, at: float, tally: Tally) -> dict[str, Any]:
    await asyncio.sleep(at)
    async with httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=300) as c:
        t0 = time.perf_counter()
        r = await c.post("/adapters/load/versions", json={"folder": "load-v2"})
        tally.record("swap_register", t0, r)
        version = r.json().get("version", 2) if r.status_code < 300 else 2
        t1 = time.perf_counter()
        r2 = await c.post("/adapters/load/activate", json={"version": version})
        tally.record("swap_activate", t1, r2)
        return {"register_s": round(t1 - t0, 3), "activate_s": round(time.perf_counter() - t1, 3),
                "active_after": [a["active_served_name"] for a in (await c.get("/adapters")).json()]}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="bench-load-"))
    keys = [f"client-{i}" for i in range(args.clients)]
    for n, name in enumerate(("load-v1", "load-v2")):
        _adapter(data / "adapters", name, args.engine, seed=n)
    server = Server(args, data, keys)
    try:
        await server.ready(args.start_timeout)
        async with httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=300) as c:
            (await c.post("/adapters/load/versions", json={"folder": "load-v1"})).raise_for_status()
            (await c.post("/adapters/load/activate", json={"version": 1})).raise_for_status()
            warm = await c.post("/translate", json={"markdown": PARAGRAPHS[0]}, headers={"X-API-Key": keys[0]})
            warm.raise_for_status()
        rss_before = _rss_mb(server.proc.pid)
        tally, tids = Tally(), [warm.json()["translation_id"]]
        until = time.monotonic() + args.duration
        started = time.perf_counter()
        samples: list[tuple[float, float]] = []

        async def sample_rss() -> None:  # the server's memory every 2 s while the load runs
            while time.monotonic() < until:
                samples.append((round(time.perf_counter() - started, 1), _rss_mb(server.proc.pid)))
                await asyncio.sleep(2.0)

        swapped, _, *_ = await asyncio.gather(
            swap(server.url, args.duration / 2, tally),
            sample_rss(),
            *(client(i, keys[i], server.url, until, tally, tids, args.timeout) for i in range(args.clients)),
        )
        wall = time.perf_counter() - started
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            health = (await c.get("/health")).json()
        await asyncio.sleep(2)
        rss_after = _rss_mb(server.proc.pid)
    finally:
        code = server.stop()
    ops = sorted({op for op, _ in tally.outcomes})
    per_op = {
        op: {
            "ok": tally.outcomes[(op, "ok")],
            "refused": tally.outcomes[(op, "refused")],
            "errors": tally.outcomes[(op, "error")],
            "p50_s": _pct(tally.latency[op], 0.5) if tally.latency[op] else None,
            "p99_s": _pct(tally.latency[op], 0.99) if tally.latency[op] else None,
        }
        for op in ops
    }
    total = sum(tally.outcomes.values())
    result = {
        "engine": args.engine,
        "clients": args.clients,
        "duration_s": round(wall, 1),
        "limits": args.limit,
        "requests": total,
        "throughput_rps": round(total / wall, 1),
        "errors": sum(n for (_, kind), n in tally.outcomes.items() if kind == "error"),
        "refused_with_retry_after": sum(n for (_, kind), n in tally.outcomes.items() if kind == "refused"),
        "per_op": per_op,
        "error_samples": tally.samples,
        "swap": swapped,
        # idle before; under load once warmed up (first sample after a third of the run) and at the end; idle after
        "rss_mb_before": rss_before,
        "rss_mb_warm": next((mb for t, mb in samples if t >= wall / 3), None),
        "rss_mb_end_of_load": samples[-1][1] if samples else None,
        "rss_mb_after": rss_after,
        "rss_mb_samples": samples[:: max(1, len(samples) // 12)],
        "health_after": {"status": health.get("status"), "store": (health.get("store") or {}).get("ok")},
        "server_exit_code": code,
    }
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["fake", "real"], default="fake")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    ap.add_argument("--timeout", type=float, default=120.0, help="client timeout per request (s)")
    ap.add_argument("--start-timeout", type=float, default=900.0)
    ap.add_argument("--limit", action="append", default=[], help="server limit NAME=VALUE (settings.limits)")
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
