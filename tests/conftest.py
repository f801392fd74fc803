"""Shared fixtures: the dev data folder and ONE real vLLM engine per test session.

The real engine costs about a minute to start on 2 CPU cores, so every engine-backed test (marked ``engine``) shares
the session fixture ``real_engine`` below; tests that do not need a model use the fake engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _dev_data() -> Path:
    override = os.environ.get("PAPERTRANS_DEV_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data" / "dev"


@pytest.fixture(scope="session")
def dev_data() -> Path:
    path = _dev_data()
    if not path.is_dir():
        pytest.fail(f"dev data not found at {path} (set PAPERTRANS_DEV_DATA)")
    return path


@pytest.fixture(scope="session")
def dev_docs(dev_data: Path) -> list[Path]:
    return sorted((dev_data / "docs").glob("*.md"))


@pytest.fixture(scope="session")
async def real_engine() -> AsyncIterator[object]:
    """One vLLM engine on the embedded model for the whole session (the contract: ``VllmEngine.start``)."""
    from papertrans.server.engine.inprocess import VllmEngine
    from papertrans.server.engine.model import resolve_model
    from papertrans.server.settings import Settings

    settings = Settings()
    model_path = resolve_model(settings.model, settings.cache_dir)
    engine = await VllmEngine.start(model_path, settings.engine)
    try:
        yield engine
    finally:
        await engine.close()
