"""The engine seam: the small protocol the server needs from an inference engine.

Two real implementations: vLLM's ``AsyncLLM`` in this process (``server/engine/inprocess.py``) and a pool of remote
``vllm serve`` endpoints (``server/engine/remote.py``); a deterministic fake (``server/engine/fake.py``) keeps unit
tests fast. Adapters are addressed by their *versioned* name
(e.g. ``d2l@3``) and a fresh integer id: vLLM caches LoRAs by name and id, so a version is never reloaded in place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

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


# -- the errors an engine raises (mapped to HTTP in server/errors.py) -------------------------------------------------
#
#   EngineError                one request failed (the pipeline retries it, then falls back)   503 engine_error
#   ├── AdapterLoadError       the engine refused an adapter (no PEFT folder, rank too large)  422 adapter_load_failed
#   └── EngineUnavailableError the engine cannot serve at all: fail fast, no retry             503 engine_unavailable
#       └── EngineClosedError  ... because it was closed or its core process died


class EngineError(RuntimeError):
    """Base of every error an :class:`Engine` raises on purpose."""


class AdapterLoadError(EngineError):
    """The engine refused to load an adapter (missing folder, rank above ``max_lora_rank``, wrong base model...)."""


class EngineUnavailableError(EngineError):
    """The engine cannot serve at all (closed, or its core process died): a request fails fast with a 503 instead
    of falling back segment by segment. Distinct from a failure of one request, which the pipeline retries."""


class EngineClosedError(EngineUnavailableError):
    """The engine was closed or its core process died."""


@dataclass(frozen=True)
class AdapterRef:
    """A loaded adapter version as the engine knows it."""

    name: str  # versioned name, unique forever, e.g. "d2l@3"
    int_id: int  # fresh positive integer per version
    path: str  # folder with adapter_config.json + weights
    # The prompt style the adapter was trained with (its papertrans-adapter.json); None = the base model's prompt.
    prompt_style: str | None = None


@dataclass(frozen=True)
class SamplingOptions:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: Sequence[str] = ()
    n: int = 1
    seed: int | None = None
    # The placeholders the output must carry, each exactly once: the real engine enforces them while decoding
    # (server/engine/constrain.py, unless EngineSettings.constrain_placeholders is off); other engines may ignore it.
    placeholders: Sequence[str] = ()
    # What the constraint does when the model wants to stop with placeholders pending: "close" writes them at once
    # (every byte kept, formulas piled at the end), "release" lets it stop without them (the attempt fails validation
    # and the pipeline retries it in smaller pieces).
    early_stop: Literal["close", "release"] = "close"


@dataclass
class Generation:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None = None
    extra: list[str] = field(default_factory=list)  # further samples when n > 1


@runtime_checkable
class Engine(Protocol):
    """What the server needs from an engine."""

    model_name: str

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        """Generate one completion; cancelling the awaiting task aborts the engine request."""
        ...

    def stream(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> AsyncIterator[str]:
        """Yield text deltas as they are produced."""
        ...

    async def add_adapter(self, adapter: AdapterRef) -> None: ...

    async def remove_adapter(self, adapter: AdapterRef) -> None: ...

    async def list_adapters(self) -> list[int]: ...

    def count_tokens(self, text: str) -> int: ...

    def has_chat_template(self) -> bool: ...

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str: ...

    async def health(self) -> dict[str, object]: ...

    async def close(self) -> None: ...
