"""The layout's rules, checked on the source (docs/ARCHITECTURE.md draws them).

Every import of every product module (module level and inside functions, relative ones resolved) is read with
``ast`` and must point the way the layers do: ``cli → clients, rl, server → server.engine, server.store →
contract → protect``; no module imports a ``_private`` module or name of another package; and every package folder is
listed in pyproject.toml's ``packages`` (setuptools installs only those). In particular:

- ``contract`` (prompts, model resolution, adapter metadata, the starter: what training and serving share) imports
  only the standard library, ``protect`` and third-party libraries: never server, rl or clients.
- ``rl`` reaches the server only through two public doors: the store's public API (``papertrans.server.store`` and its
  public submodules, e.g. ``store.export``: the training rows) and the HTTP client (``papertrans.clients``, a layer of
  its own). Anything else in ``papertrans.server`` (settings, starter, engine, app, routes, jobs, ...) is refused:
  what rl shares with serving is in ``contract``, where the server keeps its data rl reads from the environment
  itself (``rl.settings``).
- The engine (``server.engine.*``) takes its own settings (``server.engine.EngineSettings``); it never imports
  ``server.settings``, which nests them.
- HTTP errors (``server.errors``' BadRequest, NotFound, ...) are raised at the edge only: the routes, ``errors``
  itself, the app, and the guards in front of the routes (``access``, ``limits``); domain code raises domain errors,
  which the edge maps.

Each failure names the file, line and import, and the rule it breaks.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]  # "papertrans.server" -> "server"
# Modules every layer may use: the version and the exit-code table are standard-library leaves.
SHARED_LEAVES = ("papertrans", "papertrans.exitcodes", "papertrans.extras")
# The HTTP answers of server.errors, and the server modules at the edge that may raise them.
HTTP_ERRORS = ("BadRequest", "NotFound", "Conflict", "Unprocessable", "Forbidden", "Unauthorized", "PayloadTooLarge",
               "TooManyRequests", "ServiceUnavailable")
HTTP_EDGE = ("server.routes", "server.errors", "server.app", "server.access", "server.limits")


def _forbidden(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target`` (None when it may). Names are full module names, or a module's
    name and one of its names (``papertrans.server.errors.NotFound``: only the HTTP-error rule judges names)."""
    if not _inside(target, "papertrans") or target in SHARED_LEAVES:
        return None
    layer = _top(importer)
    if layer == "papertrans":  # the command line and the demo sit on top of everything
        return None
    if _top(target) == "papertrans":
        return "imports the top level (cli, demo, client shortcut): dependencies point down"
    if layer == "protect" and _top(target) != "protect":
        return "protect imports nothing of ours"
    if layer == "contract" and _top(target) not in ("contract", "protect"):
        return "contract imports only the standard library, protect and third-party libraries"
    if layer == "clients" and _top(target) in ("server", "rl"):
        return "clients never imports server or rl"
    if layer == "server" and _top(target) in ("rl", "clients"):
        return "server never imports rl or clients"
    if layer == "rl" and _top(target) == "server" and not _public_store(target):
        return "rl reaches the server only through the store's public API (and the HTTP client); shared code is contract"
    if _inside_any(importer, "server.engine") and _inside_any(target, "server.settings"):
        return "the engine takes its own settings (server.engine.EngineSettings); server.settings nests them"
    if _inside_any(importer, "server.engine", "server.store") and _inside_any(
        target, "server.app", "server.routes", "server.pipeline", "server.translator", "server.jobs", "server.jobs_db",
        "server.jobs_folder", "server.cli"
    ):
        return "server.engine and server.store sit below the app, its routes and the pipeline"
    module, _, name = target.rpartition(".")
    if layer == "server" and module == "papertrans.server.errors" and name in HTTP_ERRORS and not _inside_any(
        importer, *HTTP_EDGE
    ):
        return "HTTP errors are raised at the edge (routes, app, guards): domain code raises domain errors"
    return None


def _public_store(target: str) -> bool:
    """``papertrans.server.store`` or one of its public submodules (``papertrans.server`` itself is import-free)."""
    if target == "papertrans.server":
        return True
    parts = target.split(".")
    return _inside(target, "papertrans.server.store") and not any(p.startswith("_") for p in parts)


def _top(module: str) -> str:
    """The layer of a module: protect, server, rl, clients, or papertrans (the top-level modules)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and f"papertrans.{parts[1]}" in PACKAGE_DIR else "papertrans"


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _inside_any(module: str, *packages: str) -> bool:
    return any(_inside(module, f"papertrans.{p}") for p in packages)


@dataclass(frozen=True)
class Module:
    name: str  # papertrans.server.engine.fake
    path: Path
    is_package: bool  # an __init__.py

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def product_modules() -> Iterator[Module]:
    for package, folder in PACKAGE_DIR.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            if package == "papertrans" and len(rel) > 1:
                continue  # papertrans/ holds only the top-level modules
            is_package = rel[-1] == "__init__"
            parts = rel[:-1] if is_package else rel
            yield Module(".".join((package, *parts)), path, is_package)


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # the imported module (resolved)
    names: tuple[str, ...]  # for ``from module import a, b``


def imports_of(module: Module) -> Iterator[Import]:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names = tuple(a.name for a in node.names)
            yield Import(node.lineno, base, names)
            for name in names:  # ``from package import submodule`` imports the submodule
                if (_module_path(f"{base}.{name}")) is not None:
                    yield Import(node.lineno, f"{base}.{name}", ())


def _module_path(name: str) -> Path | None:
    for package, folder in sorted(PACKAGE_DIR.items(), key=lambda kv: -len(kv[0])):
        if _inside(name, package):
            rest = name[len(package) :].lstrip(".").split(".") if name != package else []
            base = ROOT / folder / Path(*rest) if rest else ROOT / folder
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
    return None


def _private_owner(name: str) -> str | None:
    """The package that owns the first ``_private`` part of a dotted name (None when nothing in it is private):
    a private module belongs to its package, a private name of a module to that module's package."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            prefix = ".".join(parts[:i])
            path = _module_path(prefix)
            is_plain_module = path is not None and path.name != "__init__.py"
            return prefix.rpartition(".")[0] if is_plain_module else prefix
    return None


MODULES = list(product_modules())


def test_product_modules_found() -> None:
    names = {m.name for m in MODULES}
    for expected in ("papertrans.cli", "papertrans.protect", "papertrans.server.app", "papertrans.clients.client",
                     "papertrans.rl.cli", "papertrans.server.engine.protocol"):
        assert expected in names


def module_violations(module: Module) -> list[str]:
    """Every import of ``module`` that points the wrong way, as ``file:line imports target: rule``."""
    wrong = []
    for imp in imports_of(module):
        for target in (imp.module, *(f"{imp.module}.{n}" for n in imp.names)):
            if target.endswith(".*") or (target != imp.module and _module_path(target) is None):
                continue  # a name, not a module: its module was checked
            why = _forbidden(module.name, target)
            if why:
                wrong.append(f"{_shown(module.path)}:{imp.line} imports {target}: {why}")
    return wrong


def http_error_violations(module: Module) -> list[str]:
    """Every HTTP error of ``server.errors`` that ``module`` imports where it may not; importing the module itself
    (``from papertrans.server import errors``) counts as importing each of them."""
    wrong = []
    for imp in imports_of(module):
        if imp.module != "papertrans.server.errors":
            continue
        for name in imp.names or HTTP_ERRORS:
            why = _forbidden(module.name, f"{imp.module}.{name}")
            if why:
                wrong.append(f"{_shown(module.path)}:{imp.line} imports {imp.module}.{name}: {why}")
    return wrong


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_imports_point_down(module: Module) -> None:
    wrong = module_violations(module)
    assert not wrong, "\n".join(wrong)


def test_http_errors_only_at_the_edge() -> None:
    wrong = [line for module in MODULES for line in http_error_violations(module)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_no_private_import_from_another_package(module: Module) -> None:
    wrong = []
    for imp in imports_of(module):
        for target in (imp.module, *(f"{imp.module}.{n}" for n in imp.names)):
            owner = _private_owner(target)
            if owner is not None and _inside(target, "papertrans") and not _inside(module.package, owner):
                wrong.append(f"{module.path.relative_to(ROOT)}:{imp.line} imports {target} (private to {owner})")
    assert not wrong, "\n".join(wrong)


def test_every_package_folder_is_installed() -> None:
    listed = set(SETUPTOOLS["packages"])
    found = {m.name for m in MODULES if m.is_package}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "listed in pyproject.toml but no such package folder"


def test_rules_catch_what_they_should() -> None:
    """The checker itself: the imports the rules exist to refuse are refused, the allowed ones pass."""
    assert _forbidden("papertrans.clients.cli", "papertrans.server.app")
    assert _forbidden("papertrans.protect._mask", "papertrans.server.errors")
    assert _forbidden("papertrans.rl.publish", "papertrans.server.routes.adapters")
    assert _forbidden("papertrans.server.store._store", "papertrans.server.pipeline")
    assert _forbidden("papertrans.server.app", "papertrans.cli")
    assert _forbidden("papertrans.server.engine.inprocess", "papertrans.rl.train")
    assert not _forbidden("papertrans.cli", "papertrans.server.cli")
    assert not _forbidden("papertrans.rl.publish", "papertrans.clients.client")
    assert not _forbidden("papertrans.rl.refresh", "papertrans.server.store")
    assert not _forbidden("papertrans.rl.refresh", "papertrans.server.store.export")
    assert not _forbidden("papertrans.rl.corpus", "papertrans.contract.prompts")
    assert not _forbidden("papertrans.server.pipeline", "papertrans.contract")
    assert not _forbidden("papertrans.contract.prompts", "papertrans.protect")
    assert not _forbidden("papertrans.server.routes.adapters", "papertrans.server.errors.NotFound")
    assert not _forbidden("papertrans.server.limits", "papertrans.server.errors.TooManyRequests")
    assert not _forbidden("papertrans.server.adapters", "papertrans.server.errors.exception_handlers")
    assert not _forbidden("papertrans.server.pipeline", "papertrans.protect")
    assert not _forbidden("papertrans.clients.cli", "papertrans.exitcodes")
    assert _private_owner("papertrans.server.store._store") == "papertrans.server.store"
    assert _private_owner("papertrans.server.engine.inprocess._private_helper") == "papertrans.server.engine"
    assert _private_owner("papertrans.server.engine.protocol") is None


# One synthetic bad import per rule added for issue 19, with the rule that must refuse it (and not some other rule).
BAD_IMPORTS = [
    ("papertrans.rl.refresh", "papertrans.server.settings", "rl reaches the server only"),
    ("papertrans.rl.cli", "papertrans.server.starter", "rl reaches the server only"),
    ("papertrans.rl.gate", "papertrans.server.engine.protocol", "rl reaches the server only"),
    ("papertrans.rl.corpus", "papertrans.server.engine.fake", "rl reaches the server only"),
    ("papertrans.rl.refresh", "papertrans.server.store._store", "rl reaches the server only"),
    ("papertrans.server.engine.remote", "papertrans.server.settings", "the engine takes its own settings"),
    ("papertrans.server.engine", "papertrans.server.settings", "the engine takes its own settings"),
    ("papertrans.contract.prompts", "papertrans.server.engine", "contract imports only"),
    ("papertrans.contract.model", "papertrans.rl.train", "contract imports only"),
    ("papertrans.contract", "papertrans.clients.client", "contract imports only"),
    ("papertrans.server.adapters", "papertrans.server.errors.Conflict", "HTTP errors are raised at the edge"),
    ("papertrans.server.store._store", "papertrans.server.errors.ServiceUnavailable", "HTTP errors are raised at the edge"),
]


@pytest.mark.parametrize(("importer", "target", "rule"), BAD_IMPORTS)
def test_new_rules_refuse_their_bad_import(importer: str, target: str, rule: str) -> None:
    why = _forbidden(importer, target)
    assert why is not None and why.startswith(rule), why


def test_a_bad_import_is_reported_with_its_line(tmp_path: Path) -> None:
    """The whole check on a synthetic rl module: an import hidden in a function is found, and the failure message
    names the file, the line and the import; one HTTP error imported by domain code, likewise."""
    path = tmp_path / "fake_rl.py"
    path.write_text("import json\n\n\ndef f():\n    from papertrans.server.settings import Settings\n")
    assert module_violations(Module("papertrans.rl.fake_rl", path, False)) == [
        f"{path}:5 imports papertrans.server.settings: " + str(_forbidden("papertrans.rl.x", "papertrans.server.settings"))
    ]
    domain = tmp_path / "domain.py"
    domain.write_text("from papertrans.server.errors import BadRequest, exception_handlers\nfrom papertrans.server import errors\n")
    found = http_error_violations(Module("papertrans.server.domain", domain, False))
    assert found[0].startswith(f"{domain}:1 imports papertrans.server.errors.BadRequest: HTTP errors")
    assert len(found) == 1 + len(HTTP_ERRORS)  # the module import exposes every HTTP error
    assert http_error_violations(Module("papertrans.server.routes.fake", domain, False)) == []
