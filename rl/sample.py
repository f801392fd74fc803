"""Online-DPO candidates sampled with vLLM, in a child process, before the policy is loaded for training.

Why: transformers' ``generate`` made < 9 tokens/s on the 2-core CPU (a night's 1,472 candidates took 47 minutes,
with no progress shown); vLLM's offline engine made ~70 tokens/s greedy after a ~60 s start (docs/learning-loop.md;
sampled throughput at a night's volume is not measured yet). The candidates come from the *current* adapter (the
step's parent, ``--init_adapter``; the base model without one), which is the policy before its first update, so
sampling them all up front is exactly the first pass of online DPO; the step then trains offline DPO on the ranked
pairs (rl/train.py).

Why a child process: vLLM's CPU engine starts worker processes and holds its KV cache (``VLLM_CPU_KVCACHE_SPACE``);
in a process of its own everything it holds is gone when it exits, before the trainer loads its own copy of the
model, and its multiprocessing (spawn) runs under this module's ``__main__`` guard whatever the parent is (a CLI, a
test runner). The child writes its progress (prompts done / total, seconds, tokens/s) to stderr, one line per batch;
the parent logs each line (so it lands in a refresh's ``run.log``).

    python -m papertrans.rl.sample SPEC.json OUT.json     # SPEC: {base_dir, adapter, prompts, n, ...}
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import TrainError

__all__ = ["SampleSpec", "lora_rank_limit", "main", "sample_in_child"]

log = logging.getLogger(__name__)

_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


@dataclass
class SampleSpec:
    base_dir: str
    prompts: list[str]
    adapter: str | None = None  # the policy's adapter folder (None: the base model)
    n: int = 4
    temperature: float = 0.9
    max_new_tokens: int = 128
    seed: int = 0
    max_model_len: int = 2048  # prompt + completion; a night's prompts are segments of at most ~800 characters
    extra: dict[str, Any] = field(default_factory=dict)


def lora_rank_limit(adapter: str | None) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds the adapter's rank (16 without an adapter)."""
    rank = 16
    if adapter:
        config = Path(adapter) / "adapter_config.json"
        if config.is_file():
            rank = int(json.loads(config.read_text()).get("r", rank))
    return next((r for r in _RANKS if r >= rank), rank)


def sample_in_child(spec: SampleSpec, work: Path) -> tuple[list[list[str]], dict[str, Any]]:
    """Run the sampler in a child Python; returns (candidates per prompt, stats). The child's stderr is logged."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path, out_path = work / "sample-spec.json", work / "samples.json"
    spec_path.write_text(json.dumps(asdict(spec), ensure_ascii=False))
    env = dict(os.environ)
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's INFO start-up chatter would bury the progress lines
    cmd = [sys.executable, "-m", "papertrans.rl.sample", str(spec_path), str(out_path)]
    started = time.monotonic()
    tail: list[str] = []
    cause = ""  # the engine's own error, when its worker reported one (the tail holds only the client's traceback)
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip()
            if line:
                tail = [*tail[-19:], line]
                if "Worker failed with error" in line:
                    cause = line.strip()
                log.info("vllm sampling: %s", line)
        code = proc.wait()
    if code != 0 or not out_path.is_file():
        hint = f" ({cause})" if cause else ""
        if not cause and any("EngineDeadError" in line for line in tail):
            # the engine died and no worker said why: it was killed (out of memory, a signal)
            hint = " (vLLM's engine process died without a trace of its own: most likely killed, e.g. out of memory)"
        raise TrainError("sampling_failed", f"the vLLM sampler exited with {code}{hint}: " + " | ".join(tail[-3:]))
    result = json.loads(out_path.read_text())
    stats = dict(result["stats"], wall_seconds=round(time.monotonic() - started, 1))
    return [list(group) for group in result["samples"]], stats


def _child(spec: SampleSpec) -> dict[str, Any]:
    from .generate import GenerationRequest, VllmGenerator

    started = time.monotonic()
    adapters = {"policy": Path(spec.adapter)} if spec.adapter else None
    generator = VllmGenerator(
        Path(spec.base_dir),
        adapters,
        max_model_len=spec.max_model_len,
        max_lora_rank=lora_rank_limit(spec.adapter),
        seed=spec.seed,
    )
    start_seconds = time.monotonic() - started
    log.info("engine started in %.1f s; sampling %d prompts x %d candidates", start_seconds, len(spec.prompts), spec.n)
    try:
        request = GenerationRequest(
            spec.prompts, max_new_tokens=spec.max_new_tokens, temperature=spec.temperature, n=spec.n, seed=spec.seed
        )
        samples = generator.generate(request, adapter="policy" if adapters else None)
    finally:
        generator.close()
    stats = {
        "backend": "vllm",
        "engine_start_seconds": round(start_seconds, 1),
        "generate_seconds": round(generator.seconds, 1),
        "tokens": generator.tokens_out,
        "tokens_per_second": round(generator.tokens_out / generator.seconds, 1) if generator.seconds else 0.0,
    }
    return {"samples": samples, "stats": stats}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m papertrans.rl.sample SPEC.json OUT.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("vllm", "transformers", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    spec = SampleSpec(**json.loads(Path(args[0]).read_text()))
    for folder in (spec.base_dir, spec.adapter):
        if folder is not None and not Path(folder).is_dir():  # before vLLM's import and start (a minute)
            print(f"no such model or adapter folder: {folder}", file=sys.stderr)
            return 1
    result = _child(spec)
    tmp = Path(args[1] + ".tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False))
    os.replace(tmp, args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
