"""The learning loop, measured through the real server: base model → starter adapter → one refresh on top.

One run, one table, on held-out d2l units (``../shared/data/dev/d2l_en_zh.jsonl``, never trained on):

1. Start ``papertrans serve``'s app (the embedded model, default settings) in this process; the shipped starter
   adapter ``papertrans-zh`` is registered, activated and the default.
2. **base**: translate the held-out units with ``adapter: "none"``; **starter**: with no adapter named (the default).
3. Simulated readers (``papertrans.rl.readers``) on units of a *training* split (``--reader-data``: the mldocs train
   split when present, else d2l's): each segment the starter translated is scored against the human translation; a
   reader posts the human translation as a correction (``POST /feedback``) when the output was flagged or reads badly
   (text-only chrF below ``--bad-below``), a thumbs up or down otherwise, and answers A/B comparisons
   (``POST /comparisons``) on a ``--compare-share`` of the segments; ``--feedback N`` segments a night, ``--noise``
   a share of wrong thumbs and choices, ``--noise-night`` shuffled corrections and random thumbs.
4. ``refresh`` (the nightly job, from the server's store): export → DPO on the corrections (from the starter) → online
   DPO on the recent prompts → gate against the starter on held-out rows → publish as ``papertrans-zh`` (hot swap).
5. **refresh**: translate the held-out units again with the default adapter (now the refreshed version).

Measured per stage on the words alone (code, math, roles, URLs and tags removed from output and reference): chrF and
BLEU (``tokenize="zh"``), the Chinese share of the output's letters, the share of segments that fell back to English,
and must-preserve items (math, code spans, roles, URLs) of the source missing from the output. Run under the heavy
lock (tens of minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_loop.py [--units 40] [--reader-units 16 | --feedback 200] [--noise 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"

# Scored exactly as benchmarks/bench_quality.py scores (quality_figures.py: one definition of "the words alone" and
# of "items lost").
sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_figures import lost_items, preserve_items, scores, text_only  # noqa: E402


def score(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Corpus scores of one stage: outputs are {source, reference, markdown, segments}."""
    hyps = [text_only(o["markdown"]) for o in outputs]
    refs = [text_only(o["reference"]) for o in outputs]
    segments = [s for o in outputs for s in o["segments"]]
    return {
        "units": len(outputs),
        "segments": len(segments),
        **scores(hyps, refs),
        "fallback_pct": round(100 * sum(s["status"] == "fallback" for s in segments) / max(1, len(segments)), 2),
        "memory_pct": round(100 * sum(s["status"] == "memory" for s in segments) / max(1, len(segments)), 2),
        "items_lost": sum(len(lost_items(o["source"], o["markdown"])) for o in outputs),
        "items": sum(sum(preserve_items(o["source"]).values()) for o in outputs),
    }


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="bench-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 1800  # the first start converts the model
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=120)


async def translate_all(
    url: str, units: list[dict[str, Any]], adapter: str | None, concurrency: int
) -> list[dict[str, Any]]:
    import httpx

    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, unit: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"markdown": unit["en"]}
        if adapter is not None:
            body["adapter"] = adapter
        async with gate:
            for _ in range(20):
                r = await client.post("/translate", json=body)
                if r.status_code not in (429, 503):
                    break
                await asyncio.sleep(float(r.headers.get("Retry-After", "2")))
        r.raise_for_status()
        data = r.json()
        return {"id": unit["id"], "source": unit["en"], "reference": unit["zh"], "markdown": data["markdown"],
                "segments": data["segments"], "translation_id": data["translation_id"], "adapter": data["adapter"]}

    async with httpx.AsyncClient(base_url=url, timeout=3600) as client:
        return list(await asyncio.gather(*(one(client, u) for u in units)))


def _print(table: dict[str, dict[str, Any]]) -> None:
    keys = ("chrf", "bleu_zh", "chinese_share", "fallback_pct", "items_lost", "segments")
    print(f"\n{'stage':10s}" + "".join(f"{k:>15s}" for k in keys))
    for stage, row in table.items():
        print(f"{stage:10s}" + "".join(f"{row.get(k, float('nan')):>15}" for k in keys))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=REPO / "data" / "bench-loop", help="work folder (wiped)")
    ap.add_argument("--units", type=int, default=40, help="held-out dev units (every n-th of the 115)")
    ap.add_argument("--reader-units", type=int, default=16,
                    help="training-split units the simulated readers see (ignored with --feedback)")
    ap.add_argument("--reader-data", type=Path, help="the readers' parallel split ({en, zh} JSONL; default: "
                    "../shared/data/mldocs/mldocs_en_zh_train.jsonl when present, else d2l's train split)")
    ap.add_argument("--feedback", type=int, metavar="N",
                    help="segments the readers react to in the night (documents taken until N are covered)")
    ap.add_argument("--bad-below", type=float, default=35.0, help="text-only chrF under which a reader corrects")
    ap.add_argument("--up-from", type=float, default=45.0, help="text-only chrF from which a reader thumbs up")
    ap.add_argument("--compare-share", type=float, default=0.1, help="share of segments with an A/B comparison")
    ap.add_argument("--noise", type=float, default=0.0, help="share of thumbs and A/B choices given the wrong way")
    ap.add_argument("--noise-night", action="store_true",
                    help="a night of noise: random thumbs and choices, shuffled corrections")
    ap.add_argument("--reader-seed", type=int, default=0)
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--starter", type=Path, help="starter adapter folder (default: the packaged papertrans-zh)")
    ap.add_argument("--dpo-steps", type=int, default=8)
    ap.add_argument("--online-steps", type=int, default=2)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--gate-rows", type=int, default=16)
    ap.add_argument("--gate-new-tokens", type=int, default=256)
    ap.add_argument("--backend", default="vllm", choices=["hf", "vllm"], help="gate generation backend")
    ap.add_argument("--concurrency", type=int, default=4, help="documents in flight (the per-client limit is 4)")
    ap.add_argument("--no-refresh", action="store_true", help="measure base and starter only")
    args = ap.parse_args()

    import shutil

    from papertrans.rl.corpus import parallel_rows
    from papertrans.rl.datasets import load_rows, write_rows
    from papertrans.rl.readers import ReadersConfig, run_readers
    from papertrans.rl.refresh import RefreshOptions, refresh
    from papertrans.server import starter
    from papertrans.server.app import create_app
    from papertrans.server.settings import Settings

    t0 = time.monotonic()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    if args.starter is not None:
        folder = args.starter.resolve()
        starter.starter_folder = lambda: folder  # a candidate starter instead of the packaged one
    start_adapter = starter.starter_folder()
    if start_adapter is None:
        raise SystemExit("no starter adapter: train one (docs/learning-loop.md) or pass --starter DIR")
    dev = load_rows(DATA / "dev" / "d2l_en_zh.jsonl")
    units = dev[:: max(1, len(dev) // args.units)][: args.units]
    reader_data = args.reader_data or next(
        (p for p in (DATA / "mldocs" / "mldocs_en_zh_train.jsonl", DATA / "train" / "d2l_en_zh_train.jsonl")
         if p.is_file()), DATA / "train" / "d2l_en_zh_train.jsonl")
    train_units = load_rows(reader_data)
    if args.feedback is None:  # the earlier benchmark: --reader-units whole paragraphs, every segment reacted to
        train_units = [u for u in train_units if u.get("unit_type", "paragraph") == "paragraph"
                       and parallel_rows([u], style=None)[1].units_used == 1]
        train_units = random.Random(args.reader_seed).sample(train_units, min(args.reader_units, len(train_units)))
    readers_cfg = ReadersConfig(segments=args.feedback if args.feedback is not None else 10**9,
                                correct_below=args.bad_below, thumbs_up_from=args.up_from,
                                compare_share=args.compare_share, wrong_thumbs=args.noise, wrong_choices=args.noise,
                                concurrency=args.concurrency, seed=args.reader_seed)
    if args.noise_night:
        readers_cfg = ReadersConfig.noise_night(**vars(readers_cfg))
    eval_rows, _ = parallel_rows(units, style=None, split="eval")
    write_rows(args.work / "eval.jsonl", eval_rows)
    admin = "bench-admin"
    settings = Settings(model=args.model, data_dir=args.work / "server", admin_key=admin,
                        default_adapter=starter.STARTER_NAME)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    table: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    report: dict[str, Any] = {}
    with serving(create_app(settings)) as url:
        timings["server_start_s"] = round(time.monotonic() - t0, 1)
        for stage, adapter in (("base", "none"), ("starter", None)):
            t = time.monotonic()
            outputs = asyncio.run(translate_all(url, units, adapter, args.concurrency))
            timings[f"{stage}_s"] = round(time.monotonic() - t, 1)
            table[stage] = score(outputs) | {"adapter": outputs[0]["adapter"]}
            (args.work / f"{stage}.json").write_text(json.dumps(outputs, ensure_ascii=False, indent=1))
            print(stage, json.dumps(table[stage]), flush=True)
        if not args.no_refresh:
            # The refresh exports feedback and prompts since its last run: mark "now", so the held-out translations
            # above never become training prompts (only the readers' documents do).
            (args.work / "refresh").mkdir(parents=True, exist_ok=True)
            (args.work / "refresh" / "state.json").write_text(json.dumps(
                {"last_success": datetime.datetime.now(datetime.UTC).isoformat()}))
            t = time.monotonic()
            night = run_readers(url, train_units, readers_cfg)
            timings["readers_s"] = round(time.monotonic() - t, 1)
            (args.work / "readers.json").write_text(json.dumps(night.as_dict(), ensure_ascii=False, indent=1))
            print("readers", json.dumps(night.counts), flush=True)
            opts = RefreshOptions(
                work_dir=args.work / "refresh", data_dir=settings.data_dir, eval_file=args.work / "eval.jsonl",
                server=url, admin_key=admin, adapter_name=starter.STARTER_NAME, adapter_store=settings.adapter_dir,
                start_adapter=start_adapter,
                train_args=["--max_steps", str(args.dpo_steps), "--learning_rate", str(args.learning_rate),
                            "--max_length", "512", "--per_device_train_batch_size", "2"],
                online_args=["--max_steps", str(args.online_steps), "--samples_per_prompt", "2",
                             "--sample_max_tokens", "96", "--max_rows", "8"],
                gate_max_rows=args.gate_rows, gate_backend=args.backend, gate_max_new_tokens=args.gate_new_tokens,
            )
            t = time.monotonic()
            report = refresh(opts) | {"readers": night.counts}
            timings["refresh_s"] = round(time.monotonic() - t, 1)
            print("refresh", json.dumps({k: report.get(k) for k in ("outcome", "steps", "export", "gate")},
                                        ensure_ascii=False, default=str), flush=True)
            t = time.monotonic()
            outputs = asyncio.run(translate_all(url, units, None, args.concurrency))
            timings["refresh_eval_s"] = round(time.monotonic() - t, 1)
            table["refresh"] = score(outputs) | {"adapter": outputs[0]["adapter"]}
            (args.work / "refresh.json").write_text(json.dumps(outputs, ensure_ascii=False, indent=1))
    timings["wall_s"] = round(time.monotonic() - t0, 1)
    _print(table)
    print(json.dumps(timings))
    (args.work / "bench.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "table": table, "timings": timings,
         "refresh": report}, indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
