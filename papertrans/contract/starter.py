"""The starter adapter shipped with the package: ``papertrans-zh``, trained by rl, served by the server by default.

Its files (PEFT LoRA, ``papertrans-adapter.json``, the training command and the gate report) are package data beside
this module, in ``starter/papertrans-zh/``. The server installs it into its adapter store at start
(``server.starter``); the nightly refresh refines it before anything was promoted.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STARTER_BASE_MODEL", "STARTER_NAME", "regression_set", "starter_folder"]

STARTER_NAME = "papertrans-zh"
#: The model the starter was trained on; another model gets no starter (its LoRA shapes would not fit).
STARTER_BASE_MODEL = "embedded:gemma-3-270m"


def starter_folder() -> Path | None:
    """The packaged starter adapter, or None when this installation has none."""
    folder = Path(__file__).resolve().parent / "starter" / STARTER_NAME
    if (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file():
        return folder
    return None


def regression_set() -> Path | None:
    """The starter's standing regression set (40 held-out d2l units, ``starter/regression/README.md``): the
    promotion gate checks that a refreshed adapter does not forget the starter's domain on it."""
    path = Path(__file__).resolve().parent / "starter" / "regression" / "d2l_dev_40.jsonl"
    return path if path.is_file() else None
