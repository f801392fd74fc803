"""The engine room: the protocol the server needs from an inference engine, and what implements and feeds it.

- ``protocol``: ``Engine``, ``AdapterRef``, ``SamplingOptions``, ``Generation`` (re-exported here);
- ``inprocess``: the real engine over vLLM's ``AsyncLLM`` (imports vLLM; load it only when serving);
- ``lora_cpu``: grouped CPU LoRA kernels, a vLLM plugin loaded in the engine's own processes;
- ``model``: model resolution (``embedded:gemma-3-270m`` → a converted, cached safetensors folder);
- ``prompts``: the prompt builder and output cleaning, shared by serving and training;
- ``fake``: a deterministic fake engine, the public test seam.
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

__all__ = [
    "AdapterLoadError",
    "AdapterRef",
    "Engine",
    "EngineClosedError",
    "EngineError",
    "EngineUnavailableError",
    "Generation",
    "SamplingOptions",
]
