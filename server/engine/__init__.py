"""The engine room: the protocol the server needs from an inference engine, and what implements and feeds it.

- ``protocol``: ``Engine``, ``AdapterRef``, ``SamplingOptions``, ``Generation`` (re-exported here);
- ``inprocess``: the real engine over vLLM's ``AsyncLLM`` (imports vLLM; load it only when serving);
- ``remote``: a pool of ``vllm serve`` endpoints behind the same protocol;
- ``settings``: ``EngineSettings``, the engine's own settings (re-exported here; the server nests them);
- ``lora_cpu``: grouped CPU LoRA kernels, a vLLM plugin loaded in the engine's own processes;
- ``fake``: a deterministic fake engine, the public test seam.

Prompt building and model resolution are shared with training and live below both, in :mod:`papertrans.contract`.
"""

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
from .settings import EngineSettings

__all__ = [
    "AdapterLoadError",
    "AdapterRef",
    "Engine",
    "EngineClosedError",
    "EngineError",
    "EngineSettings",
    "EngineUnavailableError",
    "Generation",
    "SamplingOptions",
]
