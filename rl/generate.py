"""Offline generation for the jobs (online-DPO sampling, the promotion gate): never inside the server.

Two backends behind one function. ``hf`` (transformers + PEFT, batched with left padding) loads in seconds and suits
the tiny sets of tests and online-DPO sampling from the policy being trained; ``vllm`` (offline ``LLM`` with
``enable_lora``) costs about a minute to start but batches continuously, so it wins on eval sets of dozens of
segments. ``auto`` picks by the amount of work. Outputs are cut at the prompt's stop sequences and cleaned with
``contract.prompts.clean_output`` so that they equal what the server would validate; prompts and stops come from
``papertrans.contract.prompts`` (the serving prompt's builder), so what is trained and gated is what is served.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from papertrans.contract.prompts import clean_output, completion_stops

__all__ = [
    "SAMPLE_TOP_K",
    "VLLM_TOKEN_THRESHOLD",
    "GenerationRequest",
    "Generator",
    "HFGenerator",
    "VllmGenerator",
    "clean",
    "default_stops",
    "open_generator",
]

log = logging.getLogger(__name__)

# Above this many tokens to generate, vLLM's start-up pays for itself. Measured on the shared 2-core machine:
# transformers' batched generate made < 9 tokens/s (20 prompts x 160 tokens unfinished after 6 min), vLLM about
# 72 tokens/s with 16 prompts in flight after a ~60 s start; break-even is about 60 / (1/9 - 1/72) ~ 620 tokens.
VLLM_TOKEN_THRESHOLD = 1000
# The server's engine stops a request that loops (same 2..24-token pattern 4 times); the gate must see what readers
# would see, so vLLM generation here uses the same rule (server/engine/inprocess.py, private there, hence repeated).
_REPETITION = {"min_pattern_size": 2, "max_pattern_size": 24, "min_count": 4}
# Sampling keeps the 50 most likely tokens (top-k), not a top-p nucleus: vLLM's CPU sampler sorts the whole
# 262,144-token vocabulary of every sequence at every step for top-p, and only runs a topk for top-k. Measured here:
# 64 sequences sampled at 4.3 tokens/s with top-p 0.95 (the machine also ran another job). Both backends sample alike.
SAMPLE_TOP_K = 50
# vLLM is handed this many sequences (prompts x n) at a time, so that a long generation (a gate side, a night's
# online-DPO candidates) logs its progress every minute or so on 2 CPU cores; 64 in flight keep the batch full.
_PROGRESS_CHUNK = 64


@dataclass(frozen=True)
class GenerationRequest:
    prompts: Sequence[str]
    max_new_tokens: int = 128
    temperature: float = 0.0
    n: int = 1
    seed: int = 0


def default_stops() -> list[str]:
    """The stop sequences of the serving completion prompt (the contract's, so training and serving agree)."""
    return completion_stops()


def clean(text: str, stops: Sequence[str]) -> str:
    """Cut at the first stop sequence, then apply the server's own output cleaning."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at >= 0:
                cut = min(cut, at)
    return clean_output(text[:cut])


class Generator:
    """Base model plus any number of named LoRA adapters; ``adapter=None`` generates with the base model."""

    def __init__(self, base_dir: Path, adapters: dict[str, Path] | None = None, *, stops: Sequence[str] | None = None):
        self.base_dir = Path(base_dir)
        self.adapters = dict(adapters or {})
        self.stops = list(stops) if stops is not None else default_stops()
        self.tokens_out = 0  # new tokens generated so far (before cutting at a stop), for throughput reports
        self.seconds = 0.0  # time spent generating

    def _progress(self, done: int, total: int, started: float, tokens: int) -> None:
        """One progress line per batch of a long generation: prompts done / total, seconds, tokens/s."""
        seconds = time.monotonic() - started
        log.info("generated %d/%d prompts, %d tokens in %.1f s (%.1f tokens/s)", done, total, tokens, seconds,
                 tokens / seconds if seconds > 0 else 0.0)

    def generate(self, request: GenerationRequest, adapter: str | None = None) -> list[list[str]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class HFGenerator(Generator):
    def __init__(
        self,
        base_dir: Path,
        adapters: dict[str, Path] | None = None,
        *,
        stops: Sequence[str] | None = None,
        model: Any = None,
        tokenizer: Any = None,
        batch_size: int = 8,
    ) -> None:
        super().__init__(base_dir, adapters, stops=stops)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.batch_size = batch_size
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(self.base_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if model is None:
            cuda = torch.cuda.is_available()
            model = AutoModelForCausalLM.from_pretrained(
                self.base_dir, dtype=torch.bfloat16 if cuda else torch.float32
            )
            if cuda:
                model = model.to("cuda")
        if self.adapters:
            from peft import PeftModel

            names = list(self.adapters)
            model = PeftModel.from_pretrained(model, str(self.adapters[names[0]]), adapter_name=names[0])
            for name in names[1:]:
                model.load_adapter(str(self.adapters[name]), adapter_name=name)
        self.model = model.eval()

    def generate(self, request: GenerationRequest, adapter: str | None = None) -> list[list[str]]:
        import contextlib

        import torch

        if adapter is not None:
            self.model.set_adapter(adapter)
            context: Any = contextlib.nullcontext()
        elif hasattr(self.model, "disable_adapter") and self.adapters:
            context = self.model.disable_adapter()
        else:
            context = contextlib.nullcontext()
        torch.manual_seed(request.seed)
        outputs: list[list[str]] = []
        sample = request.temperature > 0
        started, tokens = time.monotonic(), 0
        with context, torch.inference_mode():
            for start in range(0, len(request.prompts), self.batch_size):
                batch = list(request.prompts[start : start + self.batch_size])
                enc = self.tokenizer(batch, return_tensors="pt", padding=True).to(self.model.device)
                kwargs: dict[str, Any] = {
                    "max_new_tokens": request.max_new_tokens,
                    "do_sample": sample,
                    "num_return_sequences": request.n,
                    "pad_token_id": self.tokenizer.pad_token_id,
                    "stop_strings": [s for s in self.stops if s],
                    "tokenizer": self.tokenizer,
                }
                if sample:
                    kwargs.update(temperature=request.temperature, top_k=SAMPLE_TOP_K, top_p=1.0)
                else:
                    kwargs.update(temperature=None, top_p=None, top_k=None)
                ids = self.model.generate(**enc, **kwargs)
                new = ids[:, enc["input_ids"].shape[1] :]
                tokens += int((new != self.tokenizer.pad_token_id).sum())
                texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                for i in range(len(batch)):
                    group = texts[i * request.n : (i + 1) * request.n]
                    outputs.append([clean(t, self.stops) for t in group])
                self._progress(len(outputs), len(request.prompts), started, tokens)
        self.tokens_out += tokens
        self.seconds += time.monotonic() - started
        return outputs


class VllmGenerator(Generator):
    def __init__(self, base_dir: Path, adapters: dict[str, Path] | None = None, *, stops: Sequence[str] | None = None,
                 max_model_len: int = 1024, max_lora_rank: int = 16, seed: int = 0) -> None:
        super().__init__(base_dir, adapters, stops=stops)
        # On CPU the KV cache size (GiB) comes from the environment; 1 GiB holds dozens of short segments and keeps
        # the job light on a shared machine. An explicit setting wins.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        from vllm import LLM

        self.llm = LLM(
            model=str(self.base_dir),
            enable_lora=bool(self.adapters),
            max_lora_rank=max_lora_rank,
            max_loras=max(1, len(self.adapters)),
            max_model_len=max_model_len,
            enforce_eager=True,
            dtype="bfloat16",
            seed=seed,
        )
        self._ids = {name: i + 1 for i, name in enumerate(self.adapters)}

    def generate(self, request: GenerationRequest, adapter: str | None = None) -> list[list[str]]:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest
        from vllm.sampling_params import RepetitionDetectionParams

        params = SamplingParams(
            n=request.n,
            temperature=request.temperature,
            top_k=SAMPLE_TOP_K if request.temperature > 0 else 0,
            max_tokens=request.max_new_tokens,
            stop=[s for s in self.stops if s],
            # No per-request seed: vLLM gives a seeded request its own torch.Generator and rewinds it
            # (set_offset) when it discards a step's token, which a CPU generator cannot do — the engine died
            # with "CPU Generator does not use offset" on every night's online step. The engine's seed (LLM(seed=))
            # keeps a run reproducible.
            seed=None,
            repetition_detection=RepetitionDetectionParams(**_REPETITION),
        )
        lora = None
        if adapter is not None:
            lora = LoRARequest(adapter, self._ids[adapter], str(self.adapters[adapter]))
        prompts = list(request.prompts)
        outputs: list[list[str]] = []
        started, tokens = time.monotonic(), 0
        step = max(1, _PROGRESS_CHUNK // max(1, request.n))
        for start in range(0, len(prompts), step):
            chunk = prompts[start : start + step]
            results = self.llm.generate(chunk, params, lora_request=lora, use_tqdm=False)
            tokens += sum(len(o.token_ids) for r in results for o in r.outputs)
            outputs += [[clean(o.text, self.stops) for o in r.outputs] for r in results]
            self._progress(len(outputs), len(prompts), started, tokens)
        self.tokens_out += tokens
        self.seconds += time.monotonic() - started
        return outputs

    def close(self) -> None:
        # Stop the engine-core process now (a training step may follow in this process and needs the memory).
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()
        del self.llm


def open_generator(
    backend: str,
    base_dir: Path,
    adapters: dict[str, Path] | None = None,
    *,
    expected_tokens: int = 0,
    stops: Sequence[str] | None = None,
) -> Generator:
    """``backend``: ``hf``, ``vllm`` or ``auto`` (vLLM once ``expected_tokens`` makes its start-up worth it)."""
    if backend == "auto":
        backend = "vllm" if expected_tokens >= VLLM_TOKEN_THRESHOLD else "hf"
    log.info("generation backend: %s (%d expected tokens)", backend, expected_tokens)
    if backend == "vllm":
        return VllmGenerator(base_dir, adapters, stops=stops)
    if backend == "hf":
        return HFGenerator(base_dir, adapters, stops=stops)
    raise ValueError(f"unknown generation backend {backend!r}")
