"""The learning loop, measured: simulated readers on a train split of d2l → ``refresh`` → before/after on held-out data.

1. Split ``d2l_en_zh.jsonl`` by unit id (stable hash; half held out). Build export-format rows with the serving prompt
   (segments aligned one to one between the English and the Chinese, same kind and same protected spans).
2. Simulated readers: the base model translates each train segment (offline, greedy). A reader gives thumbs down and
   a correction (the human translation) when the output breaks a placeholder or reads badly (combined reward below
   ``--bad-below``), thumbs up otherwise. Corrections become DPO pairs, thumbs KTO rows, the prompts the online set.
3. ``refresh`` (export dir → DPO/KTO → online DPO → gate vs the base model on the held-out split).
4. Print before (base model) and after (the refreshed adapter) on the held-out split: chrF, BLEU-zh, placeholder
   integrity, fallback rate, glossary adherence. Generation uses vLLM's offline engine by default (the same
   repetition stop as the server); ``--backend hf`` uses transformers instead (much slower on CPU). Run under the
   heavy lock (about 15-20 minutes on 2 cores)::

       .venv/bin/python benchmarks/bench_loop.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _dev_data() -> Path:
    override = os.environ.get("PAPERTRANS_DEV_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data" / "dev"


# Terms whose d2l human translation uses exactly this Chinese in (nearly) every unit that has them.
GLOSSARY = ("attention=注意力,token=词元,gradient=梯度,parameter=参数,loss=损失,vector=向量,matrix=矩阵,"
            "probability=概率,algorithm=算法,neural network=神经网络,convolution=卷积,optimization=优化")


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=REPO / "data" / "bench-loop", help="work folder (wiped)")
    ap.add_argument("--train-units", type=int, default=40, help="at most this many train rows")
    ap.add_argument("--eval-units", type=int, default=40, help="at most this many held-out rows")
    ap.add_argument("--eval-percent", type=int, default=50, help="share of d2l units held out (by id hash)")
    ap.add_argument("--train-max-chars", type=int, default=600, help="longest train segment (training cost)")
    ap.add_argument("--eval-max-chars", type=int, default=900, help="longest held-out segment")
    ap.add_argument("--bad-below", type=float, default=0.6, help="combined reward under which a reader corrects")
    ap.add_argument("--max-steps", type=int, default=12)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=512, help="training sequence length (prompt + answer)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--online-prompts", type=int, default=4)
    ap.add_argument("--glossary", default=GLOSSARY, help="term=translation,... (agrees with d2l's human translation)")
    ap.add_argument("--backend", default="vllm", choices=["hf", "vllm"], help="offline generation backend")
    args = ap.parse_args()

    import shutil

    from papertrans import protect
    from papertrans.rl.datasets import load_rows, reward_columns, write_rows
    from papertrans.rl.generate import GenerationRequest, open_generator
    from papertrans.rl.parallel import rows_from_parallel, split_units
    from papertrans.rl.refresh import RefreshOptions, refresh
    from papertrans.rl.rewards import translation_reward
    from papertrans.server.engine.model import resolve_model

    t0 = time.monotonic()
    shutil.rmtree(args.work, ignore_errors=True)
    export = args.work / "export"
    export.mkdir(parents=True)
    pairs = [tuple(p.split("=", 1)) for p in args.glossary.split(",") if "=" in p]
    glossary = protect.Glossary.from_pairs(pairs)
    units = load_rows(_dev_data() / "d2l_en_zh.jsonl")
    train_units, eval_units = split_units(units, eval_percent=args.eval_percent)
    train_rows = rows_from_parallel(train_units, glossary=glossary, split="train",
                                    max_chars=args.train_max_chars)
    eval_rows = rows_from_parallel(eval_units, glossary=glossary, split="eval",
                                   max_chars=args.eval_max_chars)
    # Spread the picks over the corpus (rows come in chapter order).
    train_rows = train_rows[:: max(1, len(train_rows) // args.train_units)][: args.train_units]
    eval_rows = eval_rows[:: max(1, len(eval_rows) // args.eval_units)][: args.eval_units]
    write_rows(export / "eval.jsonl", eval_rows)
    print(f"train rows {len(train_rows)}, eval rows {len(eval_rows)} (aligned segments)")

    # Simulated readers on the base model's outputs.
    base_dir = Path(resolve_model("embedded:gemma-3-270m"))
    gen = open_generator(args.backend, base_dir)
    t = time.monotonic()
    request = GenerationRequest([r["prompt"] for r in train_rows], max_new_tokens=args.max_new_tokens)
    outputs = [g[0] for g in gen.generate(request)]
    gen.close()
    print(f"base outputs for readers: {time.monotonic() - t:.0f} s")
    dpo, kto = [], []
    for row, out in zip(train_rows, outputs, strict=True):
        cols = reward_columns(row)
        score = translation_reward([row["prompt"]], [out], **{k: [v] for k, v in cols.items()})[0]
        good = score >= args.bad_below
        kto.append({**row, "completion": out, "label": good})
        if not good and out != row["reference"]:
            dpo.append({**row, "chosen": row["reference"], "rejected": out})
    write_rows(export / "dpo.jsonl", dpo)
    write_rows(export / "kto.jsonl", kto)
    write_rows(export / "prompts.jsonl", [{k: v for k, v in r.items()} for r in train_rows[: args.online_prompts]])
    ups = sum(r["label"] for r in kto)
    print(f"readers: {len(dpo)} corrections, {ups} up / {len(kto) - ups} down")

    opts = RefreshOptions(
        work_dir=args.work / "refresh",
        export_dir=export,
        eval_file=export / "eval.jsonl",
        train_args=["--max_steps", str(args.max_steps), "--learning_rate", str(args.learning_rate),
                    "--max_length", str(args.max_length)],
        online_args=["--max_steps", "2", "--samples_per_prompt", "2", "--sample_max_tokens", "96"],
        online=args.online_prompts > 0,
        gate_backend=args.backend,
        gate_max_new_tokens=args.max_new_tokens,
    )
    t = time.monotonic()
    report = refresh(opts)
    print(f"refresh (train + gate): {time.monotonic() - t:.0f} s")
    gate = report.get("gate", {})
    print(json.dumps({k: report.get(k) for k in ("outcome", "steps", "export")}, indent=2, ensure_ascii=False))
    if gate:
        print(f"\n{'metric':22s} {'before (base)':>14s} {'after (adapter)':>16s}")
        for key in ("chrf", "bleu", "integrity", "fallback_rate", "glossary_adherence", "length_ok"):
            b, c = (_figure(gate[side][key]) for side in ("baseline", "candidate"))
            print(f"{key:22s} {b:>14s} {c:>16s}")
        print(f"\ngate: promote={gate['promote']} reasons={gate['reasons']}  report: {gate['report']}")
    (args.work / "bench.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "train_rows": len(train_rows),
         "eval_rows": len(eval_rows), "corrections": len(dpo), "report": report,
         "wall_s": round(time.monotonic() - t0)}, indent=2, ensure_ascii=False, default=str))
    print(f"wall clock: {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
