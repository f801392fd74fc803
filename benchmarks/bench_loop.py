"""The learning loop, measured through the real server: base model → starter adapter → night 1 → night 2.

One run, one table, on two held-out sets never trained on: the readers' domain (``--dev``: the mldocs dev split) and
the starter's domain (d2l dev units outside the gate's regression set, so the gate never saw what is measured):

1. Start ``papertrans serve``'s app (the embedded model, default settings) in this process; the shipped starter
   adapter ``papertrans-zh`` is registered, activated and the default.
2. **base**: translate the held-out units with ``adapter: "none"``; **starter**: with no adapter named (the default).
   Every held-out translation is an operator's measurement (``"evaluation": true``): nothing is recorded, so it never
   becomes training data, and no memory or output cache answers it.
3. **Night k** (``--nights``, ``--feedback N``: night k gets k x N segments): simulated readers (``rl/readers.py``) on
   documents of the mldocs *train* split no earlier night used — a correction (the human translation) where the output
   was flagged or reads badly (text-only chrF below ``--bad-below``), thumbs elsewhere, A/B comparisons on a
   ``--compare-share`` (night 2 compares the served adapter with the previous version), ``--noise`` wrong thumbs and
   choices. Then ``refresh`` exactly as the nightly job runs it against this server (the recipe's defaults: SFT on the
   corrections + replay of the starter's corpus, DPO on pairs, KTO on thumbs, online DPO sampled with vLLM), gated as
   served on ``--gate-units`` held-out units of the readers' domain (train-split documents no reader sees) and the
   standing regression set; promoted = hot-swapped as the default adapter. Then the held-out units again.

Printed per stage on the words alone (code, math, roles, URLs and tags removed from output and reference): chrF and
BLEU (``tokenize="zh"``), the Chinese share, fallbacks, must-preserve items lost, faithfulness (units under 0.75 of
the reference's length, odd emphasis, touching formulas), the paired-bootstrap interval of chrF against the starter,
and GSB (good/same/bad: a simulated reader's A/B choice between this stage's and the previous stage's output of each
held-out unit, 2 chrF points = same). Run alone (an hour or more on 2 cores)::

    .venv/bin/python benchmarks/bench_loop.py [--units 60] [--d2l-units 30] [--feedback 100] [--nights 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import random
import subprocess
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
from quality_figures import (  # noqa: E402
    emphasis_faults,
    length_ratio,
    lost_items,
    preserve_items,
    scores,
    text_only,
    touching_count,
)


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
    url: str, units: list[dict[str, Any]], adapter: str | None, concurrency: int, admin_key: str | None = None
) -> list[dict[str, Any]]:
    """Every unit through ``POST /translate``; with ``admin_key`` as an operator's measurement (nothing recorded)."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    headers = {"X-Admin-Key": admin_key} if admin_key else {}

    async def one(client: httpx.AsyncClient, unit: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"markdown": unit["en"], "evaluation": bool(admin_key)}
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

    async with httpx.AsyncClient(base_url=url, timeout=3600, headers=headers) as client:
        return list(await asyncio.gather(*(one(client, u) for u in units)))


def faithfulness(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Omissions against the reference, broken emphasis and touching formulas (bench_quality's definitions)."""
    ratios = [length_ratio(o["markdown"], o["reference"]) for o in outputs]
    short = [r for r in ratios if r is not None and r < 0.75]
    odd = sum(bool(emphasis_faults(o["source"], o["markdown"]) & {"odd_strong", "odd_em"}) for o in outputs)
    touching = sum(max(0, touching_count(o["markdown"]) - touching_count(o["source"])) for o in outputs)
    return {"under_075_pct": round(100 * len(short) / max(1, len(outputs)), 1), "odd_emphasis": odd,
            "touching": touching}


def gsb(current: list[dict[str, Any]], previous: list[dict[str, Any]], same_within: float = 2.0) -> str:
    """A simulated reader's A/B choice per held-out unit between two stages' outputs (sentence chrF on the words
    alone against the human translation; within ``same_within`` points = same), as ``G/S/B`` counts."""
    import sacrebleu

    counts = {"good": 0, "same": 0, "bad": 0}
    for cur, prev in zip(current, previous, strict=True):
        ref = [text_only(cur["reference"])]
        delta = (sacrebleu.sentence_chrf(text_only(cur["markdown"]), ref).score
                 - sacrebleu.sentence_chrf(text_only(prev["markdown"]), ref).score)
        counts["same" if abs(delta) < same_within else ("good" if delta > 0 else "bad")] += 1
    return f"{counts['good']}/{counts['same']}/{counts['bad']}"


def interval(current: list[dict[str, Any]], starter: list[dict[str, Any]]) -> str:
    """chrF difference against the starter with its 95 % paired bootstrap interval (the gate's own statistic)."""
    from papertrans.rl.decision import paired_bootstrap

    d = paired_bootstrap("dev", [text_only(o["markdown"]) for o in current],
                         [text_only(o["markdown"]) for o in starter], [text_only(o["reference"]) for o in current])
    return f"{d.delta:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


KEYS = ("chrf", "bleu_zh", "chinese_share", "fallback_pct", "items_lost", "under_075_pct", "odd_emphasis",
        "touching", "vs_starter", "gsb")


def _print(table: dict[str, dict[str, dict[str, Any]]]) -> None:
    for dev_set, rows in table.items():
        widths = {k: 22 if k == "vs_starter" else max(9, len(k) + 1) for k in KEYS}
        print(f"\n{dev_set}\n{'stage':9s}" + "".join(f"{k:>{widths[k]}s}" for k in KEYS))
        for stage, row in rows.items():
            print(f"{stage:9s}" + "".join(f"{str(row.get(k, '')):>{widths[k]}s}" for k in KEYS))


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=REPO / "data" / "bench-loop", help="work folder (wiped)")
    ap.add_argument("--dev", type=Path, default=DATA / "mldocs" / "mldocs_en_zh_dev.jsonl",
                    help="held-out units of the readers' domain")
    ap.add_argument("--units", type=int, default=60, help="of --dev: every n-th unit, this many")
    ap.add_argument("--d2l-units", type=int, default=30,
                    help="held-out d2l dev units outside the gate's regression set (0 = none)")
    ap.add_argument("--reader-data", type=Path, default=DATA / "mldocs" / "mldocs_en_zh_train.jsonl",
                    help="the readers' parallel split ({en, zh} JSONL)")
    ap.add_argument("--gate-units", type=int, default=40,
                    help="units of --reader-data kept from the readers: the gate's held-out rows of their domain")
    ap.add_argument("--feedback", type=int, default=100, metavar="N", help="segments night 1's readers react to "
                    "(night k: k x N)")
    ap.add_argument("--nights", type=int, default=2)
    ap.add_argument("--bad-below", type=float, default=35.0, help="text-only chrF under which a reader corrects")
    ap.add_argument("--up-from", type=float, default=45.0, help="text-only chrF from which a reader thumbs up")
    ap.add_argument("--compare-share", type=float, default=0.1, help="share of segments with an A/B comparison")
    ap.add_argument("--noise", type=float, default=0.05, help="share of thumbs and A/B choices given the wrong way")
    ap.add_argument("--reader-seed", type=int, default=0)
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--starter", type=Path, help="starter adapter folder (default: the packaged papertrans-zh)")
    ap.add_argument("--replay", type=Path, default=DATA / "train" / "d2l_en_zh_train.jsonl",
                    help="the recipe's replay data (default: the starter's training corpus)")
    ap.add_argument("--online-prompts", type=int, default=32, help="the recipe's online_max_prompts")
    ap.add_argument("--online", choices=["online-dpo", "grpo", "none"], default="online-dpo",
                    help="the recipe's online step")
    ap.add_argument("--online-arg", action="append", default=["--samples_per_prompt", "2"],
                    help="extra option of the online step (repeatable)")
    ap.add_argument("--train-arg", action="append", default=[], help="extra option of every step (repeatable)")
    ap.add_argument("--concurrency", type=int, default=4, help="documents in flight (the per-client limit is 4)")
    return ap.parse_args()


def refresh_command(args: argparse.Namespace, url: str, admin: str, data_dir: Path, adapter_store: Path,
                    regression: Path | None) -> list[str]:
    """``papertrans refresh`` as the nightly job runs it (deploy/refresh): its own process beside the server, so its
    training memory is not the server's and is given back when the night ends."""
    cmd = [sys.executable, "-m", "papertrans.cli", "refresh", "--work-dir", str(args.work / "refresh"),
           "--data-dir", str(data_dir), "--adapter-store", str(adapter_store), "--publish", url, "--admin-key", admin,
           "--eval", str(args.work / "gate-units.jsonl"), "--base-model", args.model,
           "--regression", str(regression) if regression else "none",
           "--online-max-prompts", str(args.online_prompts)]
    if args.replay:
        cmd += ["--replay", str(args.replay)]
    if args.online == "none":
        cmd += ["--no-online"]
    else:
        cmd += ["--online", args.online]
    cmd += [f"--train-arg={a}" for a in args.train_arg] + [f"--online-arg={a}" for a in args.online_arg]
    return cmd


def run_refresh(cmd: list[str], work_dir: Path, log_path: Path) -> tuple[dict[str, Any], float]:
    """Run one night; returns its report (the run folder's report.json, written on failure too) and the peak RSS
    (GiB) of the largest process in its tree (the refresh, or the vLLM sampler it waited for)."""
    before = set(work_dir.glob("runs/*/report.json"))
    with log_path.open("w") as log, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    reports = sorted(set(work_dir.glob("runs/*/report.json")) - before)
    if not reports:
        return {"outcome": "failed", "error": f"refresh exited with {proc.returncode} before its run folder; "
                f"see {log_path}"}, 0.0
    report: dict[str, Any] = json.loads(reports[-1].read_text())
    return report, round(usage.ru_maxrss / 2**20, 2)  # ru_maxrss is in KiB on Linux


def _pick(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return rows[:: max(1, len(rows) // n)][:n] if n else []


def main() -> int:
    args = _args()
    import shutil

    from papertrans.contract import regression_set
    from papertrans.rl.datasets import load_rows
    from papertrans.rl.readers import ReadersConfig, run_readers
    from papertrans.server import starter
    from papertrans.server.app import create_app
    from papertrans.server.settings import Settings

    t0 = time.monotonic()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    if args.starter is not None:
        folder = args.starter.resolve()
        starter.starter_folder = lambda: folder  # a candidate starter instead of the packaged one
    if starter.starter_folder() is None:
        raise SystemExit("no starter adapter: train one (docs/learning-loop.md) or pass --starter DIR")
    regression = regression_set()
    held_ids = {r["id"] for r in load_rows(regression)} if regression else set()
    dev_sets = {"readers' domain (" + args.dev.stem + ")": _pick(load_rows(args.dev), args.units)}
    if args.d2l_units:
        d2l = [u for u in load_rows(DATA / "dev" / "d2l_en_zh.jsonl") if u["id"] not in held_ids]
        dev_sets[f"starter's domain (d2l dev, {len(d2l)} outside the regression set)"] = _pick(d2l, args.d2l_units)
    pool = load_rows(args.reader_data)
    random.Random(args.reader_seed).shuffle(pool)
    gate_units, pool = pool[: args.gate_units], pool[args.gate_units :]
    (args.work / "gate-units.jsonl").write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in gate_units))
    admin = "bench-admin"
    settings = Settings(model=args.model, data_dir=args.work / "server", admin_key=admin,
                        default_adapter=starter.STARTER_NAME)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    table: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in dev_sets}
    outputs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in dev_sets}
    timings: dict[str, float] = {}
    nights: list[dict[str, Any]] = []

    def measure(url: str, stage: str, adapter: str | None) -> None:
        t = time.monotonic()
        for name, units in dev_sets.items():
            out = asyncio.run(translate_all(url, units, adapter, args.concurrency, admin))
            previous = list(outputs[name].values())[-1] if outputs[name] else None
            outputs[name][stage] = out
            row = score(out) | faithfulness(out) | {"adapter": out[0]["adapter"]}
            if "starter" in outputs[name] and stage not in ("base", "starter"):
                row["vs_starter"] = interval(out, outputs[name]["starter"])
            if previous is not None:
                row["gsb"] = gsb(out, previous)
            table[name][stage] = row
            print(stage, name, json.dumps(row, ensure_ascii=False), flush=True)
        timings[f"{stage}_s"] = round(time.monotonic() - t, 1)
        (args.work / "outputs.json").write_text(json.dumps(outputs, ensure_ascii=False))

    with serving(create_app(settings)) as url:
        timings["server_start_s"] = round(time.monotonic() - t0, 1)
        measure(url, "base", "none")
        measure(url, "starter", None)
        # the refresh exports feedback since its watermark: start it now (nothing before is the readers')
        (args.work / "refresh").mkdir(parents=True, exist_ok=True)
        (args.work / "refresh" / "state.json").write_text(json.dumps(
            {"watermark": datetime.datetime.now(datetime.UTC).isoformat()}))
        served = [f"{starter.STARTER_NAME}@1"]  # a fresh store registers the starter as version 1
        for k in range(1, args.nights + 1):
            cfg = ReadersConfig(segments=k * args.feedback, correct_below=args.bad_below, thumbs_up_from=args.up_from,
                                compare_share=args.compare_share, wrong_thumbs=args.noise, wrong_choices=args.noise,
                                concurrency=args.concurrency, seed=args.reader_seed + k,
                                compare_variants=["current", served[-2]] if len(served) > 1 else None)
            t = time.monotonic()
            night = run_readers(url, pool, cfg)
            used = {r.unit for r in night.reactions}
            pool = [u for u in pool if u["id"] not in used]  # the next night's readers bring other documents
            timings[f"night{k}_readers_s"] = round(time.monotonic() - t, 1)
            print(f"night {k} readers", json.dumps(night.counts), flush=True)
            cmd = refresh_command(args, url, admin, settings.data_dir, settings.adapter_dir, regression)
            t = time.monotonic()
            report, peak_gib = run_refresh(cmd, args.work / "refresh", args.work / f"refresh-night{k}.log")
            timings[f"night{k}_refresh_s"] = round(time.monotonic() - t, 1)
            gate = report.get("gate", {})
            nights.append({"night": k, "readers": night.counts, "outcome": report.get("outcome"),
                           "plan": report.get("plan"), "gate": gate, "published": report.get("published"),
                           "error": report.get("error"), "run_dir": report.get("run_dir"),
                           "steps": report.get("steps"), "seconds": timings[f"night{k}_refresh_s"],
                           "peak_rss_gib": peak_gib})
            print(f"night {k} refresh", json.dumps(nights[-1], ensure_ascii=False, default=str), flush=True)
            if report.get("published"):
                served.append(str(report["published"]["served_name"]))
            measure(url, f"night{k}", None)
    timings["wall_s"] = round(time.monotonic() - t0, 1)
    _print(table)
    for n in nights:
        print(f"night {n['night']}: {n['outcome']}; readers {n['readers']}; gate {n['gate'].get('reasons')}; "
              f"{n['seconds']} s")
    print(json.dumps(timings))
    (args.work / "bench.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "table": table, "timings": timings, "nights": nights},
        indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
