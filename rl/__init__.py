"""rl: the learning loop. Rewards, training (TRL + PEFT LoRA), the promotion gate, publish/rollback, nightly refresh.

Jobs run as separate processes (``papertrans train|gate|publish|rollback|refresh``), never inside the server.
Heavy modules (torch, TRL) are imported lazily by the functions that need them. What training shares with serving
(prompts, model resolution, the adapter metadata, the starter) is :mod:`papertrans.contract`; the server's data is
reached through the store's public API and the HTTP client, never the server's settings or internals
(tests/test_layout.py).
"""

from typing import TYPE_CHECKING, Any

from .datasets import METHODS, DataError, load_rows, validate_rows
from .metadata import AdapterError, check_adapter_dir

if TYPE_CHECKING:
    from ._sft import completion_loss

__all__ = [
    "METHODS",
    "AdapterError",
    "DataError",
    "check_adapter_dir",
    "completion_loss",
    "load_rows",
    "validate_rows",
]


def __getattr__(name: str) -> Any:
    """``completion_loss`` (SFT's loss on the completion tokens) is imported on first use: it needs torch and TRL."""
    if name == "completion_loss":
        from ._sft import completion_loss

        return completion_loss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
