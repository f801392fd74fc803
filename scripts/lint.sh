#!/usr/bin/env bash
# `make lint`: ruff (rules in pyproject.toml, complexity included) on the tree, then mypy --strict on the package.
# mypy checks the checkout's files directly, each under the module name setuptools' package-dir gives it
# (papertrans.server is server/, ...): scripts/typecheck.py says how.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$PWD/.venv/bin/python}

status=0  # run both, so that one report does not hide the other
"$PY" -m ruff check --output-format concise . || status=1
"$PY" scripts/typecheck.py || status=1
exit $status
