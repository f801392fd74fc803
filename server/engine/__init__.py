"""The engine room: the protocol the server needs from an inference engine, and what implements and feeds it.

- ``protocol``: ``Engine``, ``AdapterRef``, ``SamplingOptions``, ``Generation`` (re-exported here);
- ``inprocess``: the real engine over vLLM's ``AsyncLLM`` (imports vLLM; load it only when serving);
- ``remote``: a pool of ``vllm serve`` endpoints behind the same protocol;
- ``chat``: ``ChatEngine``, any OpenAI-compatible chat provider (Ollama, llama.cpp, hosted APIs, vllm serve) behind
  the same protocol (imported lazily: ``from papertrans.server.engine import ChatEngine`` loads httpx then);
- ``settings``: ``EngineSettings`` and its ``ProviderSettings``, the engine's own settings (re-exported here; the
  server nests them);
- ``lora_cpu``: grouped CPU LoRA kernels, a vLLM plugin loaded in the engine's own processes;
- ``fake``: a deterministic fake engine, the public test seam.

Prompt building and model resolution are shared with training and live below both, in :mod:`papertrans.contract`.
"""

from typing import TYPE_CHECKING, Any

from .protocol import (
    AdapterLoadError,
    AdapterRef,
    Engine,
    EngineClosedError,
    EngineError,
    EngineUnavailableError,
    Generation,
    SamplingOptions,
)
from .settings import EngineSettings, ProviderSettings

if TYPE_CHECKING:
    from .chat import ChatEngine

__all__ = [
    "AdapterLoadError",
    "AdapterRef",
    "ChatEngine",
    "Engine",
    "EngineClosedError",
    "EngineError",
    "EngineSettings",
    "EngineUnavailableError",
    "Generation",
    "ProviderSettings",
    "SamplingOptions",
]


def __getattr__(name: str) -> Any:
    """``ChatEngine`` on first use, so that importing the engine package does not load its HTTP client."""
    if name == "ChatEngine":
        from .chat import ChatEngine

        return ChatEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
