"""Optional math-OCR backends: a converter the user installed, with its weights, run as its own command.

papertrans never installs these tools and never lets them download weights: each runs with the Hugging Face hub
switched to offline mode (and, for Nougat, an explicit checkpoint folder), so a missing model is a clear error, not a
download. The tool writes Markdown whose math is LaTeX (``$…$``, ``\\(…\\)``, ``\\[…\\]``), which ``protect`` masks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["OCR_BACKENDS", "OcrBackend", "convert_ocr"]

_TIMEOUT_S = 3600


@dataclass(frozen=True)
class OcrBackend:
    name: str
    command: str  # the executable the tool installs
    install: str  # how the user gets it (shown in the error)
    args: Callable[[Path, Path], list[str]]  # (pdf, out folder) -> argv after the command
    outputs: tuple[str, ...]  # glob patterns of the Markdown it writes, relative to the out folder
    needs_env: str = ""  # an environment variable that must name the local weights


def _nougat_args(pdf: Path, out: Path) -> list[str]:
    return [str(pdf), "-o", str(out), "--checkpoint", os.environ.get("PAPERTRANS_NOUGAT_CHECKPOINT", ""), "--markdown"]


OCR_BACKENDS: dict[str, OcrBackend] = {
    b.name: b
    for b in (
        OcrBackend("nougat", "nougat",
                   "pip install nougat-ocr, and a checkpoint folder in PAPERTRANS_NOUGAT_CHECKPOINT",
                   _nougat_args, ("*.mmd",), needs_env="PAPERTRANS_NOUGAT_CHECKPOINT"),
        OcrBackend("marker", "marker_single", "pip install marker-pdf, with its models already in the local cache",
                   lambda pdf, out: [str(pdf), "--output_dir", str(out), "--output_format", "markdown"],
                   ("**/*.md",)),
        OcrBackend("mineru", "mineru",
                   "pip install mineru, with its models downloaded beforehand (MINERU_MODEL_SOURCE=local)",
                   lambda pdf, out: ["-p", str(pdf), "-o", str(out)], ("**/*.md",)),
    )
}


def convert_ocr(name: str, pdf: Path) -> str:
    """Markdown of ``pdf`` by the math-OCR tool ``name``; ``InputError`` when it is absent or fails."""
    backend = OCR_BACKENDS[name]
    exe = shutil.which(backend.command)
    if exe is None:
        raise InputError(f"the {name} backend is not installed ({backend.command!r} not on PATH): {backend.install}. "
                         "papertrans never downloads it; the default backend needs nothing extra")
    weights = os.environ.get(backend.needs_env, "") if backend.needs_env else ""
    if backend.needs_env and not (weights and Path(weights).is_dir()):
        raise InputError(f"the {name} backend needs its weights: set {backend.needs_env} to a local checkpoint folder")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MINERU_MODEL_SOURCE="local")
    with tempfile.TemporaryDirectory(prefix=f"papertrans-{name}-") as tmp:
        out = Path(tmp)
        try:
            proc = subprocess.run([exe, *backend.args(pdf.resolve(), out)], env=env, capture_output=True, text=True,
                                  timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise InputError(f"the {name} backend did not finish within {_TIMEOUT_S} s") from exc
        found = sorted(p for pattern in backend.outputs for p in out.glob(pattern))
        if proc.returncode != 0 or not found:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise InputError(f"the {name} backend failed (exit {proc.returncode}; missing weights are not downloaded): "
                             + " / ".join(tail))
        return "\n\n".join(p.read_text(encoding="utf-8") for p in found)
