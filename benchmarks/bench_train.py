"""SFT training throughput on CPU: the same parallel rows, one variant per line (``papertrans train --method sft``).

Every variant trains the same rows of the parallel corpus in the same order (same seed, same rows; only the prompt
style changes the prompt). Step 1 is warm-up and is not counted. Printed per variant:

* ``s/row`` and ``rows/s``: wall seconds per trained segment (the figure that decides how long a run takes);
* ``tok/s``: tokens through the model per wall second (prompt + completion; the figure the issue quoted, ~50);
* ``tgt tok/s``: trained (completion) tokens per wall second, identical targets in every variant;
* ``cpu s/row``: process CPU seconds per row, which is less disturbed when other jobs share the cores.

Run (about 15 minutes on 2 shared cores)::

    .venv/bin/python benchmarks/bench_train.py [--rows-per-step 4] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: name -> train options (beyond --method sft --data --out --max_steps and the batch shape)
VARIANTS: dict[str, list[str]] = {
    "before: few-shot prompt, TRL loss, padded batch, fp32": ["--prompt_style", "fewshot", "--sft_loss", "trl"],
    "few-shot prompt, completion-only loss": ["--prompt_style", "fewshot"],
    "zero-shot prompt, TRL loss": ["--sft_loss", "trl"],
    "zero-shot prompt, completion-only loss": [],
    "  + padding-free (packed rows)": ["--padding_free", "True"],
    "  + batch 1 x grad. accumulation (no padding)": ["@ga"],
    "  + bf16 base weights": ["--bf16_weights", "True"],
    "  + bf16 autocast": ["--bf16", "True"],
    "  + 1 torch thread": ["--torch_threads", "1"],
}


def _timer() -> Any:
    """A TrainerCallback that records wall and process-CPU time of every optimizer step."""
    from transformers import TrainerCallback

    class Timer(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.steps: list[tuple[float, float]] = []
            self._t = (0.0, 0.0)

        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self._t = (time.perf_counter(), time.process_time())

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            self.steps.append((time.perf_counter() - self._t[0], time.process_time() - self._t[1]))

    return Timer()


def _run(name: str, extra: list[str], data: Path, work: Path, rows_per_step: int, steps: int) -> dict[str, Any]:
    from papertrans.contract.adapter import read_metadata
    from papertrans.rl.config import parse_train_args
    from papertrans.rl.train import prepare, train

    shape = ["--per_device_train_batch_size", str(rows_per_step), "--gradient_accumulation_steps", "1"]
    if "@ga" in extra:
        shape = ["--per_device_train_batch_size", "1", "--gradient_accumulation_steps", str(rows_per_step)]
        extra = [e for e in extra if e != "@ga"]
    out = work / f"v{abs(hash(name)) % 10**6}"
    argv = ["--method", "sft", "--data", str(data), "--out", str(out), "--max_steps", str(steps + 1),
            "--max_segment_chars", "600", "--logging_steps", "1", *shape, *extra]
    loop, config = parse_train_args(argv)
    prep = prepare(loop)
    timer = _timer()
    train(prep, config, callbacks=[timer])
    meta = read_metadata(out)
    assert meta is not None
    history = [h for h in meta.log_history if "num_tokens" in h]
    # tokens seen by each step (num_tokens is cumulative), warm-up step 1 dropped
    cumulative = [float(h["num_tokens"]) for h in history]
    per_step = [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]
    timed = timer.steps[1:]
    wall = sum(w for w, _ in timed)
    cpu = sum(c for _, c in timed)
    rows = rows_per_step * len(timed)
    tokens = sum(per_step[1:])
    target = _target_tokens(prep, rows_per_step, steps, config.seed)
    return {"variant": name, "rows": rows, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "s_per_row": round(wall / rows, 2), "cpu_s_per_row": round(cpu / rows, 2),
            "tokens_per_s": round(tokens / wall, 1), "target_tokens_per_s": round(target / wall, 1),
            "loss_last": history[-1].get("loss") if history else None}


def _target_tokens(prep: Any, rows_per_step: int, steps: int, seed: int) -> float:
    """Completion tokens of the rows the timed steps trained (same sampler order as the Trainer: torch's RandomSampler
    with the run's seed), so the figure is the same work in every variant."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(prep.base_dir)
    generator = torch.Generator()
    generator.manual_seed(seed)
    order = torch.randperm(len(prep.rows), generator=generator).tolist()
    picked = order[rows_per_step : rows_per_step * (steps + 1)]
    return float(sum(len(tok(prep.rows[i]["completion"], add_special_tokens=False)["input_ids"]) + 1 for i in picked))


def micro(data: Path, rows: int, batch: int, threads: int) -> list[dict[str, Any]]:
    """Forward + backward of the LoRA model on the same rows, per variant, in process CPU seconds (robust when other
    jobs share the cores): the cost of one training pass without the Trainer around it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from papertrans.contract.model import resolve_model
    from papertrans.rl import completion_loss
    from papertrans.rl.corpus import parallel_rows
    from papertrans.rl.datasets import load_rows

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base = Path(resolve_model("embedded:gemma-3-270m"))
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager")
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                  "o_proj"], task_type="CAUSAL_LM"))
    units = load_rows(data)[:: 40]
    picked = {style: parallel_rows(units, style=style, max_chars=600)[0][:rows] for style in ("fewshot", "zeroshot")}

    def batches(style: str, size: int) -> list[dict[str, Any]]:
        out = []
        for start in range(0, rows, size):
            group = picked[style][start : start + size]
            ids = [tok(r["prompt"])["input_ids"] + tok(r["completion"], add_special_tokens=False)["input_ids"]
                   + [tok.eos_token_id] for r in group]
            prompt_len = [len(tok(r["prompt"])["input_ids"]) for r in group]
            width = max(len(i) for i in ids)
            input_ids = torch.full((len(ids), width), tok.pad_token_id)
            labels = torch.full((len(ids), width), -100)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for k, (seq, p) in enumerate(zip(ids, prompt_len, strict=True)):
                input_ids[k, : len(seq)] = torch.tensor(seq)
                labels[k, p : len(seq)] = torch.tensor(seq[p:])
                mask[k, : len(seq)] = 1
            out.append({"input_ids": input_ids, "attention_mask": mask, "labels": labels})
        return out

    def full_logits(batch: dict[str, Any]) -> torch.Tensor:  # the whole (batch, length, vocab) logits, as before
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"][:, 1:].flatten(),
                                                 ignore_index=-100)

    variants = [("before: few-shot prompt, full logits, padded batch", "fewshot", batch, full_logits),
                ("zero-shot prompt, full logits, padded batch", "zeroshot", batch, full_logits),
                ("zero-shot prompt, completion-only loss, padded batch", "zeroshot", batch,
                 lambda b: completion_loss(model, b)[0]),
                ("zero-shot prompt, completion-only loss, batch 1 (no padding)", "zeroshot", 1,
                 lambda b: completion_loss(model, b)[0])]
    results = []
    for name, style, size, loss_fn in variants:
        work = batches(style, size)
        loss_fn(work[0]).backward()  # warm-up
        model.zero_grad()
        wall, cpu = time.perf_counter(), time.process_time()
        for b in work:
            loss_fn(b).backward()
            model.zero_grad()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tokens = sum(int(b["attention_mask"].sum()) for b in work)
        padded = sum(b["attention_mask"].numel() for b in work)
        target = sum(int((b["labels"] != -100).sum()) for b in work)
        res = {"variant": name, "rows": rows, "cpu_s_per_row": round(cpu / rows, 2),
               "wall_s_per_row": round(wall / rows, 2),
               "tokens": tokens, "padded_positions": padded, "target_tokens": target,
               "target_tokens_per_cpu_s": round(target / cpu, 1), "tokens_per_cpu_s": round(tokens / cpu, 1)}
        results.append(res)
        print(json.dumps(res), flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "train" / "d2l_en_zh_train.jsonl")
    ap.add_argument("--work", type=Path, default=REPO / "data" / "bench-train")
    ap.add_argument("--rows-per-step", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4, help="timed steps (after one warm-up step)")
    ap.add_argument("--only", action="append", help="run only variants whose name contains this (repeatable)")
    ap.add_argument("--micro", type=int, metavar="ROWS",
                    help="instead: forward+backward CPU time of ROWS rows per variant, without the Trainer")
    ap.add_argument("--threads", type=int, default=1, help="--micro: torch threads")
    args = ap.parse_args()
    if args.micro:
        micro(args.data, args.micro, args.rows_per_step, args.threads)
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for name, extra in VARIANTS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        res = _run(name, list(extra), args.data, args.work, args.rows_per_step, args.steps)
        results.append(res)
        print(json.dumps(res, ensure_ascii=False), flush=True)
    (args.work / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    # the ratio: trained (completion) tokens per second against the first variant run (the "before" one), same rows
    first = results[0]["target_tokens_per_s"] if results else 0.0
    print(f"\n{'variant':55} {'s/row':>6} {'cpu s/row':>9} {'tok/s':>6} {'tgt tok/s':>9} {'x first':>7}")
    for r in results:
        ratio = r["target_tokens_per_s"] / first if first else float("nan")
        print(f"{r['variant']:55} {r['s_per_row']:6.2f} {r['cpu_s_per_row']:9.2f} {r['tokens_per_s']:6.1f} "
              f"{r['target_tokens_per_s']:9.1f} {ratio:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
