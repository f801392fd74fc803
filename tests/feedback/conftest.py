"""Fixtures of the feedback tests: one store per test on SQLite and (when PAPERTRANS_TEST_PG_URL is set) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from papertrans.server.settings import Settings
from papertrans.server.store import SegmentRecord, Store, TranslationRecord, open_store

PG_URL = os.environ.get("PAPERTRANS_TEST_PG_URL")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.slow,
            pytest.mark.skipif(not PG_URL, reason="PAPERTRANS_TEST_PG_URL is not set"),
        ],
    ),
]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(str(PG_URL))
    conn = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port or 5432, database=url.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fresh_settings(backend: str, tmp_path: Path) -> tuple[Settings, str | None]:
    """Settings whose store is empty: SQLite in tmp_path, or a new PostgreSQL database (returned for dropping)."""
    settings = Settings(data_dir=tmp_path / "data")
    if backend == "sqlite":
        return settings, None
    name = f"pt_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    settings.store.url = make_url(str(PG_URL)).set(database=name).render_as_string(hide_password=False)
    return settings, name


async def drop_database(name: str | None) -> None:
    if name:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    s, db = await fresh_settings(request.param, tmp_path)
    try:
        yield s
    finally:
        await drop_database(db)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    st = await open_store(settings)
    try:
        yield st
    finally:
        await st.close()


PLACEHOLDERS = {"⟦1⟧": "$x$", "⟦2⟧": ":cite:`Bahdanau.2014`"}


def make_record(tid: str | None = None, doc_hash: str = "doc-1", adapter: str | None = None,
                version: int | None = None, n: int = 2, tag: str = "") -> TranslationRecord:
    """A translation as the pipeline would record it: masked sources, full prompts, raw outputs."""
    segs = [
        SegmentRecord(
            segment_id=f"s{i}",
            source=f"Attention ⟦1⟧ number {i}{tag} ⟦2⟧.",
            prompt=f"Translate into Chinese.\nEnglish: Attention ⟦1⟧ number {i}{tag} ⟦2⟧.\nChinese:",
            output=f"注意力 ⟦1⟧ 第{i}号{tag} ⟦2⟧。",
            translation=f"注意力 $x$ 第{i}号{tag} :cite:`Bahdanau.2014`。",
            status="ok",
            reasons=[],
            placeholders=dict(PLACEHOLDERS),
        )
        for i in range(n)
    ]
    return TranslationRecord(
        id=tid or uuid.uuid4().hex,
        doc_hash=doc_hash,
        model="fake",
        adapter=adapter,
        adapter_version=version,
        prompt_template_version="v1",
        glossary_version="g1",
        settings={"temperature": 0.0},
        segments=segs,
    )


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[Any]:
    """The feedback routes in a minimal Litestar app with the fake engine (create_app's dependency providers only)."""
    import httpx
    from litestar import Litestar
    from litestar.datastructures import State

    from papertrans.server.adapters import AdapterRegistry
    from papertrans.server.app import state_dependencies
    from papertrans.server.engine.fake import FakeEngine
    from papertrans.server.errors import exception_handlers
    from papertrans.server.metrics import Metrics
    from papertrans.server.pipeline import Pipeline
    from papertrans.server.routes.feedback import route_handlers
    from papertrans.server.translator import Translator

    st = await open_store(settings)
    engine = FakeEngine()
    registry = AdapterRegistry(engine, settings.adapter_dir, settings.data_dir / "adapters.json")  # none registered
    metrics = Metrics()
    translator = Translator(Pipeline(engine, settings.translate, metrics), registry, st, metrics, settings.translate)
    app = Litestar(
        route_handlers=route_handlers,
        exception_handlers=exception_handlers(),
        state=State(
            {"store": st, "settings": settings, "engine": engine, "adapters": registry, "translator": translator}
        ),
        dependencies=state_dependencies(("store", "settings", "engine", "adapters", "translator")),
    )
    try:
        # Same event loop as the test (asyncpg connections belong to one loop); state is set above, no lifespan.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.store = st  # type: ignore[attr-defined]
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await st.close()
