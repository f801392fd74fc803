"""``papertrans train``: one LoRA adapter from one export file, on TRL's trainers with a PEFT ``LoraConfig``.

Order matters: everything that can be wrong with the input (data, base model, parent adapter) is checked before the
model is loaded. The adapter is written to a temporary sibling folder and renamed into place at the end, so a crash
never leaves a half-written adapter where the gate or the publisher would pick it up.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from papertrans.contract.adapter import AdapterMetadata, write_metadata

from .config import LoopArguments
from .corpus import is_parallel, load_glossary, parallel_rows
from .datasets import DataError, data_hash, load_rows, reward_columns, validate_rows
from .errors import TrainError
from .metadata import AdapterError, check_adapter_dir, model_fingerprint
from .progress import progress_callback

__all__ = ["Prepared", "TrainError", "prepare", "train"]

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    loop: LoopArguments
    rows: list[dict[str, Any]]
    data_sha256: str
    base_dir: Path
    parent: AdapterMetadata | None = None
    notes: list[str] = field(default_factory=list)
    prompt_style: str | None = None  # recorded in the adapter's metadata; the server serves it with this style
    report: dict[str, Any] = field(default_factory=dict)  # e.g. the parallel corpus conversion's counts


def prepare(loop: LoopArguments) -> Prepared:
    """All input checks, no model loading: raises DataError / AdapterError / TrainError with a clear code."""
    from papertrans.contract.model import ModelError, resolve_model

    data = Path(loop.data)
    rows = load_rows(data)
    if loop.max_rows is not None:
        rows = rows[-loop.max_rows :]
    report: dict[str, Any] = {}
    style: str | None = None
    if loop.method == "sft" and is_parallel(rows):
        # Parallel text ({en, zh} / {source, target}): protect both sides, align segment by segment, serving prompts.
        rows, corpus = parallel_rows(rows, style=loop.prompt_style, glossary=load_glossary(loop.glossary),
                                     max_chars=loop.max_segment_chars)
        report["parallel"] = corpus.as_dict()
        style = loop.prompt_style
        log.info("parallel text: %s", corpus.as_dict())
        if not rows:
            raise DataError("no_aligned_units", f"none of the {corpus.units} units aligned segment by segment: "
                            f"{corpus.as_dict()}")
    validate_rows(loop.method, rows, min_examples=loop.min_examples)
    if loop.method == "online-dpo" and loop.samples_per_prompt < 2:
        raise DataError("invalid_option", "online DPO needs --samples_per_prompt >= 2 to form pairs")
    try:
        base = resolve_model(loop.base_model, Path(loop.model_cache_dir) if loop.model_cache_dir else None)
    except ModelError as exc:
        raise TrainError("missing_base_model", str(exc)) from exc
    base_dir = Path(base)
    if not base_dir.is_dir():
        raise TrainError("missing_base_model", f"{loop.base_model!r} is not a local model folder (no downloads here)")
    parent = None
    if loop.init_adapter:
        init = Path(loop.init_adapter)
        if not init.is_dir():
            raise AdapterError("not_an_adapter", f"--init_adapter {init} does not exist")
        parent = check_adapter_dir(init, base_dir)
    if style is None:
        style = parent.prompt_style if parent is not None else _style_of_rows(rows)
    return Prepared(loop=loop, rows=rows, data_sha256=data_hash(data), base_dir=base_dir, parent=parent,
                    prompt_style=style, report=report)


def _style_of_rows(rows: list[dict[str, Any]]) -> str | None:
    """The prompt style the rows' prompts were built with (exported rows carry the prompt the engine saw)."""
    from papertrans.contract.prompts import prompt_style_of

    styles = {prompt_style_of(str(r.get("prompt", ""))) for r in rows}
    return styles.pop() if len(styles) == 1 else None


def _load_policy(prep: Prepared, cuda: bool) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config): a fresh LoRA config, or the parent adapter loaded trainable."""
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loop = prep.loop
    tokenizer = AutoTokenizer.from_pretrained(prep.base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        prep.base_dir, dtype=torch.bfloat16 if cuda or loop.bf16_weights else torch.float32,
        attn_implementation="eager",
    )
    if loop.init_adapter:
        policy = PeftModel.from_pretrained(model, loop.init_adapter, is_trainable=True)
        return policy, tokenizer, None
    peft_config = LoraConfig(
        r=loop.lora_r,
        lora_alpha=loop.lora_alpha or 2 * loop.lora_r,
        lora_dropout=loop.lora_dropout,
        target_modules=[m.strip() for m in loop.lora_target_modules.split(",") if m.strip()],
        task_type="CAUSAL_LM",
    )
    return model, tokenizer, peft_config


def _kto_weights(rows: list[dict[str, Any]]) -> tuple[float, float]:
    # Balance the classes: desirable_weight * n_desirable == undesirable_weight * n_undesirable (TRL's advice).
    desirable = sum(1 for r in rows if r["label"])
    undesirable = len(rows) - desirable
    if desirable >= undesirable:
        return 1.0, desirable / max(1, undesirable)
    return undesirable / max(1, desirable), 1.0


def _dataset(method: str, rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    keep: dict[str, tuple[str, ...]] = {
        "sft": ("prompt", "completion"),
        "kto": ("prompt", "completion", "label"),
        "dpo": ("prompt", "chosen", "rejected"),
        "online-dpo": ("prompt", "chosen", "rejected"),
    }
    if method == "grpo":
        return Dataset.from_list([{"prompt": r["prompt"], **reward_columns(r)} for r in rows])
    return Dataset.from_list([{k: r[k] for k in keep[method]} for r in rows])


def _build_trainer(
    prep: Prepared, config: Any, model: Any, tokenizer: Any, peft_config: Any, rows: list[dict[str, Any]]
) -> Any:
    import trl  # TRL's __init__ is lazy: mypy sees no exports (hence the attr-defined ignores)

    method = prep.loop.method
    dataset = _dataset(method, rows)
    common: dict[str, Any] = {
        "model": model,
        "args": config,
        "train_dataset": dataset,
        "processing_class": tokenizer,
        "peft_config": peft_config,
    }
    if method == "sft":
        if getattr(config, "padding_free", False) and not getattr(config, "packing", False):
            # TRL refuses max_length with padding-free rows (it cannot truncate them); long segments are dropped
            # before this point (--max_segment_chars), so no truncation is lost.
            config.max_length = None
        if prep.loop.sft_loss == "completion":
            from ._sft import CompletionOnlySFTTrainer

            return CompletionOnlySFTTrainer(**common)
        return trl.SFTTrainer(**common)  # type: ignore[attr-defined]
    if method in ("dpo", "online-dpo"):
        return trl.DPOTrainer(**common)  # type: ignore[attr-defined]
    if method == "kto":
        if prep.loop.kto_balance_weights:
            config.desirable_weight, config.undesirable_weight = _kto_weights(rows)
        return trl.KTOTrainer(**common)  # type: ignore[attr-defined]
    if method == "grpo":
        from .generate import clean, default_stops
        from .rewards import translation_reward

        stops = default_stops()

        def translation(prompts: list[Any], completions: list[Any], **kw: Any) -> list[float]:
            # GRPO's raw samples run past the segment; score what the server would keep.
            return translation_reward(prompts, [clean(str(c), stops) for c in completions], **kw)

        return trl.GRPOTrainer(reward_funcs=[translation], **common)  # type: ignore[attr-defined,list-item]
    raise TrainError("unknown_method", method)


def _sample_backend(loop: LoopArguments, prompts: int) -> str:
    from .generate import VLLM_TOKEN_THRESHOLD

    if loop.sample_backend != "auto":
        return loop.sample_backend
    expected = prompts * loop.samples_per_prompt * loop.sample_max_tokens
    return "vllm" if expected >= VLLM_TOKEN_THRESHOLD else "hf"


def _sample_vllm(prep: Prepared, work: Path) -> tuple[list[list[str]], dict[str, Any]]:
    """Candidates from the current adapter with vLLM, in a child process, before the policy is loaded."""
    from .sample import SampleSpec, sample_in_child

    loop = prep.loop
    spec = SampleSpec(base_dir=str(prep.base_dir), prompts=[r["prompt"] for r in prep.rows],
                      adapter=str(loop.init_adapter) if loop.init_adapter else None, n=loop.samples_per_prompt,
                      temperature=loop.sample_temperature, max_new_tokens=loop.sample_max_tokens,
                      seed=loop.seed_value)
    log.info("online DPO: sampling %d prompts x %d with vLLM", len(spec.prompts), spec.n)
    return sample_in_child(spec, work)


def _sample_hf(prep: Prepared, model: Any, tokenizer: Any) -> tuple[list[list[str]], dict[str, Any]]:
    from .generate import GenerationRequest, HFGenerator

    loop = prep.loop
    generator = HFGenerator(prep.base_dir, model=model, tokenizer=tokenizer)
    log.info("online DPO: sampling %d prompts x %d with transformers", len(prep.rows), loop.samples_per_prompt)
    samples = generator.generate(
        GenerationRequest([r["prompt"] for r in prep.rows], max_new_tokens=loop.sample_max_tokens,
                          temperature=loop.sample_temperature, n=loop.samples_per_prompt, seed=loop.seed_value)
    )
    tokenizer.padding_side = "right"
    seconds = generator.seconds
    return samples, {"backend": "hf", "generate_seconds": round(seconds, 1), "tokens": generator.tokens_out,
                     "tokens_per_second": round(generator.tokens_out / seconds, 1) if seconds else 0.0}


def _online_pairs(prep: Prepared, samples: list[list[str]],
                  sampling: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score each prompt's candidates with the translation reward; keep (best, worst) pairs with a real margin."""
    from .rewards import translation_reward

    loop = prep.loop
    pairs: list[dict[str, Any]] = []
    margins: list[float] = []
    for row, group in zip(prep.rows, samples, strict=True):
        cols = reward_columns(row)
        columns: dict[str, Any] = {k: [v] * len(group) for k, v in cols.items()}
        scores = translation_reward([row["prompt"]] * len(group), group, **columns)
        ranked = sorted(zip(scores, group, strict=True), key=lambda t: t[0])
        (low, worst), (high, best) = ranked[0], ranked[-1]
        # A reader's correction beats any sample: use it as "chosen" when the row has one.
        if cols["reference"] and cols["reference"] != worst:
            best, high = cols["reference"], max(high, 1.0)
        if high - low >= loop.min_reward_margin and best.strip() and best != worst:
            pairs.append({"prompt": row["prompt"], "chosen": best, "rejected": worst})
            margins.append(high - low)
    stats = {
        "prompts": len(prep.rows),
        "samples": sum(len(g) for g in samples),
        "pairs": len(pairs),
        "mean_reward_margin": sum(margins) / len(margins) if margins else 0.0,
        **{f"sample_{k}": v for k, v in sampling.items()},
    }
    if not pairs:
        raise TrainError("no_preference_pairs", f"sampled {stats['samples']} completions; no pair had a reward margin "
                         f">= {loop.min_reward_margin}")
    return pairs, stats


def train(prep: Prepared, config: Any, callbacks: Sequence[Any] = ()) -> Path:
    """Train and write the adapter to ``prep.loop.out``; returns that folder. ``callbacks`` are extra
    ``transformers.TrainerCallback`` objects (the training benchmark times steps with one)."""
    import peft
    import torch
    import transformers
    import trl

    loop = prep.loop
    cuda = torch.cuda.is_available() and not getattr(config, "use_cpu", False)
    if loop.torch_threads:
        torch.set_num_threads(loop.torch_threads)
    out = Path(loop.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rows = prep.rows
        extra_metrics: dict[str, Any] = {}
        sampled = None
        if loop.method == "online-dpo" and _sample_backend(loop, len(prep.rows)) == "vllm":
            sampled = _sample_vllm(prep, work / "sampling")  # before the policy: the child's memory is gone by then
        model, tokenizer, peft_config = _load_policy(prep, cuda)
        if loop.method == "online-dpo":
            rows, extra_metrics = _online_pairs(prep, *(sampled or _sample_hf(prep, model, tokenizer)))
            log.info("online DPO: %s", extra_metrics)
        config.output_dir = str(work / "trainer")
        trainer = _build_trainer(prep, config, model, tokenizer, peft_config, rows)
        trainer.add_callback(progress_callback(loop.method))
        for callback in callbacks:
            trainer.add_callback(callback)
        if loop.max_minutes:
            trainer.add_callback(_time_box(loop.max_minutes))
        result = trainer.train()
        adapter = work / "adapter"
        trainer.model.save_pretrained(str(adapter))
        metrics = {**dict(result.metrics), **extra_metrics, "global_step": result.global_step,
                   **_throughput(trainer, result.metrics)}
        log.info("throughput: %s", {k: v for k, v in metrics.items() if "tokens" in k})
        meta = AdapterMetadata(
            method=loop.method,
            base_model=loop.base_model,
            base_fingerprint=model_fingerprint(prep.base_dir),
            data_sha256=prep.data_sha256,
            data_rows=len(prep.rows),
            parent=str(loop.init_adapter) if loop.init_adapter else None,
            parent_sha256=prep.parent.data_sha256 if prep.parent else None,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            hyperparameters=_hyperparameters(loop, config),
            metrics=metrics,
            log_history=list(trainer.state.log_history),
            versions={"trl": trl.__version__, "peft": peft.__version__, "transformers": transformers.__version__,
                      "torch": torch.__version__},
            prompt_style=prep.prompt_style,
            report={**prep.report, "torch_threads": torch.get_num_threads()},
        )
        write_metadata(adapter, meta)
        if out.exists():
            shutil.rmtree(out)
        os.replace(adapter, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _time_box(minutes: float) -> Any:
    """A callback that ends training cleanly once ``minutes`` have passed (checked after each optimizer step)."""
    import time

    from transformers import TrainerCallback

    class TimeBox(TrainerCallback):
        def __init__(self) -> None:
            self.deadline = time.monotonic() + 60.0 * minutes

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.monotonic() >= self.deadline:
                log.warning("--max_minutes %s reached at step %d: stopping", minutes, state.global_step)
                control.should_training_stop = True
            return control

    return TimeBox()


def _throughput(trainer: Any, metrics: dict[str, Any]) -> dict[str, float]:
    """Tokens through the model (prompt + completion) and trained (completion) tokens per second of training."""
    seconds = float(metrics.get("train_runtime") or 0.0)
    seen = float(getattr(trainer, "_total_train_tokens", 0) or 0)
    out: dict[str, float] = {}
    if seconds > 0 and seen:
        out["tokens_total"] = seen
        out["tokens_per_second"] = round(seen / seconds, 2)
    target = float(getattr(trainer, "target_tokens_total", 0) or 0)
    if seconds > 0 and target:
        out["target_tokens_total"] = target
        out["target_tokens_per_second"] = round(target / seconds, 2)
    return out


def _hyperparameters(loop: LoopArguments, config: Any) -> dict[str, Any]:
    names = ("learning_rate", "beta", "max_steps", "num_train_epochs", "per_device_train_batch_size",
             "gradient_accumulation_steps", "max_length", "num_generations", "max_completion_length",
             "desirable_weight", "undesirable_weight", "loss_type", "seed", "lr_scheduler_type", "warmup_steps")
    picked = {n: getattr(config, n) for n in names if hasattr(config, n)}
    picked.update(lora_r=loop.lora_r, lora_alpha=loop.lora_alpha or 2 * loop.lora_r,
                  lora_target_modules=loop.lora_target_modules, lora_dropout=loop.lora_dropout)
    for name in ("padding_free", "bf16", "packing"):
        if hasattr(config, name):
            picked[name] = getattr(config, name)
    if loop.method == "sft":
        picked.update(sft_loss=loop.sft_loss, bf16_weights=loop.bf16_weights, glossary=loop.glossary,
                      max_segment_chars=loop.max_segment_chars, max_minutes=loop.max_minutes,
                      torch_threads=loop.torch_threads, prompt_style=loop.prompt_style)
    if loop.method == "online-dpo":
        picked.update(samples_per_prompt=loop.samples_per_prompt, sample_temperature=loop.sample_temperature,
                      sample_max_tokens=loop.sample_max_tokens, sample_backend=loop.sample_backend)
    return picked
