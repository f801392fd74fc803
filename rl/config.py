"""Options of ``papertrans train``: TRL's config dataclass for the method plus our few fields, parsed by
``transformers.HfArgumentParser`` (so every TRL/``TrainingArguments`` option works and ``--help`` lists them all).

Defaults follow what works for small models on CPU: LoRA r 16 / alpha 32 on the attention projections; DPO beta 0.1
with a learning rate of 1e-5; KTO weights from the class balance; GRPO KL beta 0.001 with 4 completions per prompt;
float32 on CPU (``use_cpu``), bf16 on a GPU when one is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .datasets import METHODS

__all__ = ["LoopArguments", "config_class", "method_defaults", "parse_train_args"]


@dataclass
class LoopArguments:
    """Our fields; everything else is the TRL config of the method."""

    method: str = field(metadata={"help": "Training method.", "choices": list(METHODS)})
    data: str = field(metadata={"help": "JSONL in TRL's standard format for the method (from `papertrans export`)."})
    out: str = field(metadata={"help": "Folder the adapter (PEFT files + papertrans-adapter.json) is written to."})
    init_adapter: str | None = field(
        default=None, metadata={"help": "Continue training this adapter folder instead of a fresh LoRA."}
    )
    base_model: str = field(
        default="embedded:gemma-3-270m",
        metadata={"help": "Base model: a local folder, a hub id, or embedded:gemma-3-270m (converted once, cached)."},
    )
    model_cache_dir: str | None = field(default=None, metadata={"help": "Converted-model cache (default: ~/.cache)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (the server's engine accepts up to max_lora_rank)."})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default: 2 x rank)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(
        default="q_proj,k_proj,v_proj,o_proj",
        metadata={"help": "Comma-separated module names to adapt (fewer modules = cheaper serving on CPU)."},
    )
    min_examples: int | None = field(
        default=None, metadata={"help": "Refuse datasets with fewer rows than this (default: the method's minimum)."}
    )
    max_rows: int | None = field(default=None, metadata={"help": "Use at most this many rows (newest last)."})
    kto_balance_weights: bool = field(
        default=True,
        metadata={"help": "KTO: set desirable/undesirable weights from the class balance (overrides the weights)."},
    )
    samples_per_prompt: int = field(
        default=4, metadata={"help": "Online DPO: completions sampled per prompt from the current policy (>= 2)."}
    )
    sample_temperature: float = field(default=0.9, metadata={"help": "Online DPO: sampling temperature."})
    sample_max_tokens: int = field(default=128, metadata={"help": "Online DPO: max new tokens per sample."})
    min_reward_margin: float = field(
        default=0.05, metadata={"help": "Online DPO: keep a pair only if best - worst reward is at least this."}
    )
    seed_value: int = field(default=0, metadata={"help": "Sampling seed for online DPO."})
    sample_backend: str = field(
        default="auto",
        metadata={"help": "Online DPO: how the candidates are sampled from the current adapter. vllm = vLLM's offline "
                  "engine in a child process, before training (greedy: ~70 tokens/s on 2 CPU cores after a ~60 s "
                  "start); hf = transformers' generate on the policy (< 9 tokens/s there); auto = vllm once "
                  "prompts x samples x max tokens reach 1,000 (rl/generate.py's break-even), else hf.",
                  "choices": ["auto", "vllm", "hf"]},
    )
    prompt_style: str = field(
        default="zeroshot",
        metadata={"help": "SFT from parallel text ({en, zh} or {source, target} rows): the serving prompt style the "
                  "adapter is trained with and recorded for (zeroshot = compact instruction + glossary + text; "
                  "fewshot = the base model's prompt).", "choices": ["zeroshot", "fewshot"]},
    )
    glossary: str | None = field(
        default=None,
        metadata={"help": "SFT from parallel text: glossary (term=translation,... or a glossary file) written into "
                  "the prompts of the segments that contain a term, as the server does."},
    )
    max_segment_chars: int | None = field(
        default=None, metadata={"help": "SFT from parallel text: skip English segments longer than this."}
    )
    sft_loss: str = field(
        default="completion",
        metadata={"help": "SFT loss: completion = output layer on completion tokens only (fast on CPU); "
                  "trl = TRL's own loss.", "choices": ["completion", "trl"]},
    )
    torch_threads: int | None = field(
        default=None, metadata={"help": "torch intra-op threads (default: torch's choice, one per core)."}
    )
    max_minutes: float | None = field(
        default=None,
        metadata={"help": "Stop training after this many minutes (at the end of an optimizer step) and write the "
                  "adapter; the steps done are recorded in its metadata. A time box for shared machines."},
    )
    bf16_weights: bool = field(
        default=False,
        metadata={"help": "Load the frozen base weights in bf16 (LoRA weights stay float32); for CPUs with bf16 "
                  "matrix units."},
    )


def config_class(method: str) -> type[Any]:
    """The TRL config dataclass for a method (imports TRL: call only when training)."""
    import trl

    names = {
        "sft": "SFTConfig", "kto": "KTOConfig", "dpo": "DPOConfig", "online-dpo": "DPOConfig", "grpo": "GRPOConfig",
    }
    # online DPO: our own sampling feeds DPOTrainer. getattr because TRL's lazy __init__ exports nothing to mypy.
    cls: type[Any] = getattr(trl, names[method])
    return cls


def method_defaults(method: str, *, cuda: bool) -> dict[str, Any]:
    """Defaults that differ from TRL's, chosen for a 270M base model trained with LoRA."""
    common: dict[str, Any] = {
        "use_cpu": not cuda,
        "bf16": cuda,
        "gradient_checkpointing": False,  # a 270M model fits easily; checkpointing only costs time here
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_train_epochs": 1.0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "dataloader_num_workers": 0,
        "seed": 0,
    }
    per_method: dict[str, dict[str, Any]] = {
        "sft": {"learning_rate": 2e-4, "max_length": 512},
        "dpo": {"learning_rate": 1e-5, "beta": 0.1, "max_length": 512},
        "online-dpo": {"learning_rate": 1e-5, "beta": 0.1, "max_length": 512},
        "kto": {"learning_rate": 1e-5, "beta": 0.1, "max_length": 512},
        "grpo": {
            "learning_rate": 1e-5,
            "beta": 0.001,
            "num_generations": 4,
            "per_device_train_batch_size": 4,
            "max_completion_length": 96,
            "temperature": 0.9,
        },
    }
    return {**common, **per_method[method]}


def _peek_method(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--method="):
            return arg.split("=", 1)[1]
    return None


def parse_train_args(argv: Sequence[str], *, cuda: bool | None = None) -> tuple[LoopArguments, Any]:
    """Parse ``papertrans train`` options into (our fields, the method's TRL config)."""
    from transformers import HfArgumentParser

    method = _peek_method(argv)
    if method not in METHODS:
        # Let argparse print a proper "choices" error (or the help of our fields when --method is absent).
        parser = HfArgumentParser(LoopArguments, prog="papertrans train")  # type: ignore[arg-type]
        parser.parse_args_into_dataclasses(list(argv))
        raise SystemExit(2)
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    parser = HfArgumentParser(
        (LoopArguments, config_class(method)), prog=f"papertrans train --method {method}"  # type: ignore[arg-type]
    )
    # output_dir is TRL's; we write the adapter to --out, so default it there and keep one flag in the user's hands.
    argv = list(argv)
    defaults = method_defaults(method, cuda=cuda)
    out = _value_of(argv, "--out")
    if out is not None:
        defaults.setdefault("output_dir", out)
    parser.set_defaults(**defaults)
    loop, config = parser.parse_args_into_dataclasses(argv)
    return loop, config


def _value_of(argv: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
