"""mypy --strict on the checkout as it is: every package folder's files under their ``papertrans.*`` names.

The product's folders are mapped into one import namespace by setuptools' ``package-dir`` (``papertrans.server`` is
``server/``, ...). mypy names a file by the folders it sits in (``server/app.py`` would be ``server.app``) and finds
an import by looking for ``papertrans/server/`` on its search path, so on its own it can follow neither the mapping
nor the editable install's import hook. mypy does take sources with their module names given, though: this script
lets mypy collect the files of every mapped folder (its own crawl, excludes and config), renames each file to the
module the installed package has, and runs the build; imports between the files resolve to these sources, and errors
name the real paths (``server/app.py``). The names come from ``[tool.setuptools] package-dir`` only.

It uses mypy's command-line driver functions (``mypy.main.process_options`` / ``run_build``), which are not a
published API: a mypy release that changes them fails here loudly, not silently.

    .venv/bin/python scripts/typecheck.py            # what `make lint` runs; exit 1 on errors
    .venv/bin/python scripts/typecheck.py --list     # the files and the module names they are checked as
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path

from mypy import util
from mypy.fscache import FileSystemCache
from mypy.main import process_options, run_build
from mypy.modulefinder import BuildSource

ROOT = Path(__file__).resolve().parent.parent


def package_folders(pyproject: Path) -> dict[Path, str]:
    """``{folder: package}`` from ``package-dir``, the deepest folder first (a package mapped inside another)."""
    mapping = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-dir"]
    folders = {(pyproject.parent / folder).resolve(): package for package, folder in mapping.items()}
    return dict(sorted(folders.items(), key=lambda item: -len(item[0].parts)))


def module_name(path: Path, folders: dict[Path, str]) -> str:
    """The module a file is imported as, installed (``server/engine/fake.py``: ``papertrans.server.engine.fake``)."""
    for folder, package in folders.items():
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts and parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise SystemExit(f"typecheck: {path} is in no folder of [tool.setuptools] package-dir")


def main(argv: list[str]) -> int:
    listing = "--list" in argv
    pyproject = ROOT / "pyproject.toml"
    folders = package_folders(pyproject)
    # the outermost folders only: mypy would crawl a nested mapped folder twice
    tops = [str(f.relative_to(ROOT)) for f in folders if not any(f != o and f.is_relative_to(o) for o in folders)]
    t0 = time.time()
    fscache = FileSystemCache()
    found, options = process_options(["--config-file", str(pyproject), *tops], fscache=fscache)
    sources = [
        BuildSource(s.path, module_name(Path(s.path).resolve(), folders), s.text, s.base_dir)
        for s in found
        if s.path is not None
    ]
    if listing:
        for s in sources:
            print(f"{s.path}\t{s.module}")
        return 0
    _, messages, blockers = run_build(sources, options, fscache, t0, sys.stdout, sys.stderr)
    n_errors, n_notes, n_files = util.count_stats(messages)
    formatter = util.FancyFormatter(sys.stdout, sys.stderr, options.hide_error_codes)
    if n_errors:
        print(formatter.format_error(n_errors, n_files, len(sources), blockers=blockers, use_color=False))
        return 2 if blockers else 1
    print(formatter.format_success(len(sources), use_color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
