"""One version number: pyproject.toml's, as the package and the OpenAPI schema report it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import papertrans

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _pyproject_version() -> str:
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert isinstance(version, str)
    return version


def test_package_version_is_pyprojects() -> None:
    # a mismatch after a bump means the editable install is stale: `make setup` reinstalls it
    assert papertrans.__version__ == _pyproject_version()


def test_openapi_schema_version_is_pyprojects(tmp_path: Path) -> None:
    from papertrans.server.app import create_app
    from papertrans.server.settings import Settings

    app = create_app(Settings(data_dir=tmp_path))  # the engine is only built in the lifespan, which does not run here
    assert app.openapi_schema.info.version == _pyproject_version()
