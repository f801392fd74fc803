"""Shared fixtures: the suite's data folder (tests/data) and ONE real vLLM engine per test session.

The real engine costs about a minute to start on 2 CPU cores, so every engine-backed test (marked ``engine``) shares
the session fixture ``real_engine`` below; tests that do not need a model use the fake engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The suite's own data (tests/data/README.md: a sample of the d2l training corpus and two whole English documents);
# nothing outside the checkout is read, so a fresh clone runs the suite.
TEST_DATA = REPO / "tests" / "data"


# Skip reasons that mean "a test service is missing". Locally such tests skip; under CI (``CI`` set, as .ci/run does)
# the services are installed by scripts/ci_services.sh, so a missing one is a failure, never a silent skip.
SERVICE_SKIPS = ("PAPERTRANS_TEST_PG_URL is not set", "chromium is not installed", "pdflatex is not installed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") and report.skipped and any(s in str(report.longrepr) for s in SERVICE_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"under CI a missing test service fails: {report.longrepr}"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The folder holding ``d2l_en_zh.jsonl`` (aligned EN/ZH units) and ``docs/`` (whole English documents)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def corpus_docs(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "docs").glob("*.md"))


@pytest.fixture(scope="session")
async def real_engine() -> AsyncIterator[object]:
    """One vLLM engine on the embedded model for the whole session (the contract: ``VllmEngine.start``)."""
    from papertrans.contract.model import resolve_model
    from papertrans.server.engine.inprocess import VllmEngine
    from papertrans.server.settings import Settings

    settings = Settings()
    model_path = resolve_model(settings.model, settings.cache_dir)
    engine = await VllmEngine.start(model_path, settings.engine)
    try:
        yield engine
    finally:
        await engine.close()
