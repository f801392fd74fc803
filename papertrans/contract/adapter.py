"""The adapter metadata: ``papertrans-adapter.json`` next to the PEFT files, written by training, read by serving.

rl's trainer writes it (:func:`write_metadata`); the server reads ``prompt_style`` from it to build the adapter's
prompts the way it was trained; the gate reads it to prompt both sides as they will be served.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["METADATA_FILE", "AdapterMetadata", "read_metadata", "write_metadata"]

#: The metadata's file name inside an adapter folder.
METADATA_FILE = "papertrans-adapter.json"


@dataclass
class AdapterMetadata:
    method: str
    base_model: str  # the spec, e.g. "embedded:gemma-3-270m"
    base_fingerprint: str
    data_sha256: str | None = None
    data_rows: int = 0
    parent: str | None = None  # folder name or path of the adapter this one continued from
    parent_sha256: str | None = None
    created_at: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)  # the trainer's per-step logs: the curves
    versions: dict[str, str] = field(default_factory=dict)
    # The serving prompt style the adapter was trained with (prompts.PROMPT_STYLES); None = the base model's few-shot
    # prompt (adapters from before styles existed). The server builds this adapter's prompts with it.
    prompt_style: str | None = None
    # What the training run did with its input (e.g. parallel units aligned / skipped) and its measured throughput.
    report: dict[str, Any] = field(default_factory=dict)


def write_metadata(folder: Path, meta: AdapterMetadata) -> Path:
    path = Path(folder) / METADATA_FILE
    path.write_text(json.dumps(asdict(meta), indent=2, ensure_ascii=False, default=str))
    return path


def read_metadata(folder: Path) -> AdapterMetadata | None:
    """The folder's metadata (None when it has none); fields this version does not know are dropped."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    known = set(AdapterMetadata.__dataclass_fields__)
    return AdapterMetadata(**{k: v for k, v in raw.items() if k in known})
