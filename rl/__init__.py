"""rl: the learning loop. Rewards, training (TRL + PEFT LoRA), the promotion gate, publish/rollback, nightly refresh.

Jobs run as separate processes (``papertrans train|gate|publish|rollback|refresh``), never inside the server.
Heavy modules (torch, TRL) are imported lazily by the functions that need them.
"""

from .datasets import METHODS, DataError, load_rows, validate_rows
from .metadata import AdapterError, AdapterMetadata, check_adapter_dir, read_metadata

__all__ = [
    "METHODS",
    "AdapterError",
    "AdapterMetadata",
    "DataError",
    "check_adapter_dir",
    "load_rows",
    "read_metadata",
    "validate_rows",
]
