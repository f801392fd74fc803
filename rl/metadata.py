"""The base-model identity check of an adapter folder; the metadata it reads (``papertrans-adapter.json`` next to
the PEFT files) is the contract's (:mod:`papertrans.contract.adapter`), written by training and read by serving.

PEFT records ``base_model_name_or_path`` as a local path, which differs from machine to machine; the identity we
compare is a fingerprint of the base model's architecture (config fields that decide the LoRA shapes), so an adapter
trained on another base model is refused with a clear error instead of a shape mismatch deep inside vLLM.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from papertrans.contract.adapter import AdapterMetadata, read_metadata

from .errors import AdapterError

__all__ = ["AdapterError", "check_adapter_dir", "model_fingerprint"]

_FINGERPRINT_KEYS = (
    "model_type",
    "architectures",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
)


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    # Multimodal configs (e.g. Gemma 3 4B+) nest the language model's fields under "text_config".
    nested = config.get("text_config")
    return {**config, **nested} if isinstance(nested, dict) else config


def model_fingerprint(model_dir: Path) -> str:
    """Short hash of the config fields that fix the adapter's shapes."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError("missing_base_model", f"no readable config.json in {model_dir}: {exc}") from exc
    text = _text_config(config)
    picked = {key: text.get(key) for key in _FINGERPRINT_KEYS}
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def check_adapter_dir(folder: Path, base_dir: Path) -> AdapterMetadata | None:
    """Refuse a folder that is not a PEFT LoRA adapter or that was trained on another base model."""
    folder = Path(folder)
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise AdapterError("not_an_adapter", f"{folder} has no adapter_config.json")
    if not any((folder / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        raise AdapterError("not_an_adapter", f"{folder} has no adapter_model.safetensors")
    expected = model_fingerprint(base_dir)
    meta = read_metadata(folder)
    if meta is not None:
        if meta.base_fingerprint != expected:
            raise AdapterError(
                "base_model_mismatch",
                f"{folder} was trained on {meta.base_model} (fingerprint {meta.base_fingerprint}); "
                f"the base model here has fingerprint {expected}",
            )
        return meta
    # No metadata (an adapter from elsewhere): compare PEFT's recorded base model when it is a readable folder.
    recorded = json.loads(config_path.read_text()).get("base_model_name_or_path")
    if recorded and Path(recorded).is_dir() and model_fingerprint(Path(recorded)) != expected:
        raise AdapterError("base_model_mismatch", f"{folder} was trained on {recorded}, not on {base_dir}")
    return None
