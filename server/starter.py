"""Installing the starter adapter shipped with the package: ``papertrans-zh``, an SFT LoRA that makes the embedded
model translate.

The embedded Gemma 3 270M is a base model: with a few-shot prompt it mostly echoes English. ``papertrans-zh`` was
trained on a parallel EN/ZH corpus with the released ``papertrans train --method sft`` (command, data hash, seed and
gate report beside it, in ``papertrans/contract/starter/papertrans-zh/``; its name, base model and folder are contract
facts, :mod:`papertrans.contract.starter`, since rl refines it too). At start the server copies it into its adapter
store (only folders inside the store can be registered), registers and activates it, and serves requests that name no
adapter with it. ``default_adapter`` changes that: ``none`` serves the base model, a name serves that adapter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from papertrans.contract import STARTER_BASE_MODEL, STARTER_NAME, starter_folder

__all__ = ["install_starter", "resolve_default_adapter"]

log = logging.getLogger(__name__)

_NONE = ("none", "base")


def _content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


def resolve_default_adapter(setting: str | None, model: str) -> str | None:
    """What requests without ``adapter`` use: None (the base model) or an adapter name."""
    if setting is not None and setting.strip().lower() in _NONE:
        return None
    if setting:
        return setting
    return STARTER_NAME if model == STARTER_BASE_MODEL and starter_folder() is not None else None


async def install_starter(registry: Any, adapter_dir: Path) -> dict[str, Any] | None:
    """Copy the packaged starter into the adapter store and register + activate it; returns its version info.

    Idempotent: a starter whose content is already registered is only activated if no version of the name is active
    (a reader's published refresh of ``papertrans-zh`` stays active across restarts). A new package version (other
    content) registers a new version and activates it.
    """
    source = starter_folder()
    if source is None:
        return None
    rel = f"starter/{STARTER_NAME}-{_content_hash(source)}"
    target = adapter_dir / rel
    if not target.is_dir():
        # per process: replicas of a fleet starting at once share this adapter store
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        try:
            tmp.rename(target)  # atomic: a crash never leaves a half-copied adapter in the store
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.is_dir():  # not another replica's copy that won the race
                raise
    known = next((a for a in registry.list() if a["name"] == STARTER_NAME), None)
    existing = [v for v in (known or {}).get("versions", []) if v["folder"] == rel]
    if existing:
        version = existing[-1]
        if known and known["active"] is None:
            return dict(await registry.activate(STARTER_NAME, version["version"]))
        return dict(version)
    info = await registry.register(STARTER_NAME, rel, reuse=True)  # a fleet's other replica may have just done it
    activated = dict(await registry.activate(STARTER_NAME, int(info["version"])))
    log.info("starter adapter %s registered from %s", activated.get("served_name"), json.dumps(rel))
    return activated
