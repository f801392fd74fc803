"""How the engine is started and talks to vLLM: the engine's own settings, handed to it by whoever builds it.

The server nests this model in its ``Settings`` as ``engine`` (environment ``PAPERTRANS_ENGINE__…``); the engine
never reads the server's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

__all__ = ["EngineSettings", "ProviderSettings"]


class ProviderSettings(BaseModel):
    """A model someone already runs behind an OpenAI-compatible chat endpoint (Ollama, llama.cpp's server, LM Studio,
    a `vllm serve` of an instruct model, a hosted API): ``server/engine/chat.py``. The API key is a secret: it is sent
    in the Authorization header and nowhere else (never logged, stored, echoed in errors or health)."""

    kind: Literal["openai-chat"] | None = Field(
        None, description="'openai-chat' = translate through this provider's /chat/completions; unset = vLLM."
    )
    base_url: str = Field(
        "http://127.0.0.1:11434/v1",
        description="The OpenAI base URL, with its /v1 (a URL without a path gets /v1 added).",
    )
    model: str = Field("", description="The model name the provider serves (the request's 'model').")
    api_key: SecretStr | None = Field(None, description="The API key itself (prefer api_key_env or api_key_file).")
    api_key_env: str | None = Field(None, description="Name of an environment variable holding the API key.")
    api_key_file: Path | None = Field(None, description="A file holding the API key (surrounding whitespace dropped).")
    tokenizer: str | None = Field(
        None,
        description="A local model folder (or embedded:gemma-3-270m) whose tokenizer counts tokens for chunking; "
        "unset = an estimate of one token per 3 characters.",
    )
    max_concurrency: int = Field(8, ge=1, description="Requests in flight to this provider at once.")
    requests_per_minute: float | None = Field(
        None, gt=0, description="Request starts per minute, spread evenly (unset = no limit)."
    )
    request_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait for one chat completion (a local model on CPU can be slow)."
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="Longest wait to connect to the provider.")
    max_attempts: int = Field(
        4, ge=1, description="Tries of one request on 429, 5xx, timeouts and connection errors (then it fails)."
    )
    backoff_s: float = Field(1.0, ge=0, description="First wait between tries; doubles each time.")
    backoff_max_s: float = Field(30.0, ge=0, description="Longest wait between tries.")
    max_retry_after_s: float = Field(
        120.0,
        ge=0,
        description="Longest Retry-After honoured; a provider asking for more (a spent quota) fails the request "
        "at once with 503 engine_unavailable.",
    )
    supports_lora: bool | None = Field(
        None,
        description="Requests may name LoRA adapters (loaded with /v1/load_lora_adapter); unset = only when "
        "/v1/models says the provider is vLLM (owned_by 'vllm').",
    )
    constrain: bool | None = Field(
        None,
        description="Send each segment's placeholder inventory as vllm_xargs for our logits processor; unset = "
        "when the provider is vLLM (and engine.constrain_placeholders is on).",
    )
    extra_stop: list[str] = Field(
        default_factory=list,
        description="Stop strings added to every request (an end-of-turn marker the served model does not stop on).",
    )
    reasoning_tokens: int = Field(
        0, ge=0, description="Tokens added to every request's max_tokens for a reasoning model's hidden thinking."
    )


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
    request_seeds: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Send each sampled request's own seed to vLLM (the retry ladder's best-of-N candidates: the same "
        "document samples the same candidates). vLLM's CPU build kills its engine on them ('CPU Generator does not "
        "use offset' when a step of a seeded request is discarded), so auto = on for an in-process GPU engine, off on "
        "CPU and for remote endpoints, whose device the server cannot see (set on for a GPU fleet).",
    )
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
    provider: ProviderSettings = Field(
        default_factory=ProviderSettings,
        description="An OpenAI-compatible chat provider as the engine (provider.kind = 'openai-chat').",
    )
    constrain_placeholders: bool = Field(
        True,
        description="Constrained decoding: each placeholder of a segment exactly once, no stop while one is pending "
        "(a vLLM logits processor, server/engine/constrain.py). Off = placeholders are only validated afterwards.",
    )
