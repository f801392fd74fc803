"""The contract between training and serving: what ``rl`` and ``server`` both build on, below both of them.

- ``prompts``: prompt styles, building and output cleaning, the template version per style;
- ``model``: model resolution (``embedded:gemma-3-270m`` → a converted, cached safetensors folder);
- ``adapter``: the adapter metadata (``papertrans-adapter.json``) schema and file name;
- ``starter``: the shipped starter adapter (its name, the base model it fits, its folder).

It imports only the standard library, ``protect`` and third-party libraries.
"""

from . import prompts
from .adapter import METADATA_FILE, AdapterMetadata, read_metadata, write_metadata
from .model import ModelError, resolve_model
from .starter import STARTER_BASE_MODEL, STARTER_NAME, regression_set, starter_folder

__all__ = [
    "METADATA_FILE",
    "STARTER_BASE_MODEL",
    "STARTER_NAME",
    "AdapterMetadata",
    "ModelError",
    "prompts",
    "read_metadata",
    "regression_set",
    "resolve_model",
    "starter_folder",
    "write_metadata",
]
