"""How the engine is started and talks to vLLM: the engine's own settings, handed to it by whoever builds it.

The server nests this model in its ``Settings`` as ``engine`` (environment ``PAPERTRANS_ENGINE__…``); the engine
never reads the server's settings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["EngineSettings"]


class EngineSettings(BaseModel):
    """How the vLLM engine is started."""

    max_model_len: int = Field(2048, description="Context length the engine reserves per sequence.")
    kv_cache_gib: float = Field(2.0, description="CPU KV cache in GiB (exported as VLLM_CPU_KVCACHE_SPACE).")
    gpu_memory_utilization: float = Field(0.85, description="Fraction of GPU memory vLLM may take (GPU only).")
    max_loras: int = Field(4, description="Adapters resident in one batch.")
    max_lora_rank: int = Field(16, description="Largest LoRA rank the engine accepts.")
    max_num_seqs: int = Field(32, description="Sequences batched together by the scheduler.")
    enforce_eager: bool = Field(True, description="Skip graph capture (starts in about a minute on CPU).")
    dtype: str = Field("bfloat16", description="Weights dtype for the engine.")
    seed: int = Field(0, description="Sampling seed.")
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Layers vLLM wraps for LoRA (fewer = faster adapter requests on CPU; adapter weights for other "
        "layers are ignored). Empty = every supported layer. Default matches rl's q,k,v,o adapters.",
    )
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs one model copy is split over (vLLM tensor_parallel_size; in-process engine)."
    )
    data_parallel_size: int = Field(
        1, ge=1, description="Model copies vLLM runs side by side (vLLM data_parallel_size; in-process engine)."
    )
    urls: list[str] = Field(
        default_factory=list,
        description="Base URLs of `vllm serve` endpoints (JSON list): set = use them as a pool instead of starting "
        "vLLM in this process (server/engine/remote.py). The model setting still names the local folder or "
        "embedded model whose tokenizer the prompts and chunks are built with.",
    )
    served_model: str | None = Field(
        None, description="The model name the vLLM endpoints serve (default: asked from their /v1/models)."
    )
    request_timeout_s: float = Field(600.0, description="Longest wait for one remote completion.")
    health_timeout_s: float = Field(5.0, description="Longest wait for one remote endpoint's /health.")
    endpoint_retry_s: float = Field(2.0, description="How often a taken-out remote endpoint is probed again.")
    constrain_placeholders: bool = Field(
        True,
        description="Constrained decoding: each placeholder of a segment exactly once, no stop while one is pending "
        "(a vLLM logits processor, server/engine/constrain.py). Off = placeholders are only validated afterwards.",
    )
