#!/usr/bin/env bash
# `make lint`: ruff (rules in pyproject.toml, complexity included) on the tree, then mypy --strict on the package.
# mypy cannot follow setuptools' package-dir mapping (papertrans.server is server/, ...), so it checks a throwaway
# tree of links laid out as the installed package: papertrans/<sub> -> the folder pyproject.toml maps it to.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}

status=0  # run both, so that one report does not hide the other
"$PY" -m ruff check --output-format concise . || status=1

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
"$PY" - "$tree" <<'PYCODE'
import sys, tomllib
from pathlib import Path

tree = Path(sys.argv[1])
package_dir = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
top = Path(package_dir.pop("papertrans")).resolve()
(tree / "papertrans").mkdir()
for module in top.glob("*.py"):  # the top-level modules (cli, demo, ...)
    (tree / "papertrans" / module.name).symlink_to(module)
for package, folder in package_dir.items():  # papertrans.server -> server/, ...
    (tree / Path(*package.split("."))).symlink_to(Path(folder).resolve(), target_is_directory=True)
PYCODE
cd "$tree"
"$PY" -m mypy --config-file "$ROOT/pyproject.toml" --cache-dir "$ROOT/.mypy_cache" -p papertrans || status=1
exit $status
