"""Health, metrics, OpenAPI docs, the serve command and settings from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from papertrans.server.engine.fake import FakeEngine
from papertrans.server.settings import Settings
from tests.server.conftest import AppClient, serve


async def test_health(client: AppClient) -> None:
    body = (await client.get("/health")).json()
    assert body["status"] == "ok" and body["model"] == "fake"
    assert body["engine"]["state"] == "ready" and body["adapters"] == {}


async def test_health_degraded_when_engine_fails(app_factory: Any) -> None:
    class Sick(FakeEngine):
        async def health(self) -> dict[str, object]:
            raise RuntimeError("engine core died")

    async with serve(app_factory(Sick())) as c:
        r = await c.get("/health")
    # nothing can be translated: 503, so that a load balancer or supervisor acts
    assert r.status_code == 503 and r.json()["status"] == "engine_dead"
    assert "engine core died" in r.json()["engine"]["error"]


async def test_metrics_count_requests_tokens_and_segments(client: AppClient) -> None:
    await client.post("/translate", json={"markdown": "The model.\n\nThe paper."})
    await client.post("/translate", content=b"{", headers={"content-type": "application/json"})
    text = (await client.get("/metrics")).text
    assert 'papertrans_requests_total{method="POST",route="/translate",status="200"} 1.0' in text
    assert 'papertrans_requests_total{method="POST",route="/translate",status="400"} 1.0' in text
    assert 'papertrans_segments_total{status="ok"} 2.0' in text
    assert 'papertrans_tokens_total{direction="in"}' in text
    assert "papertrans_queue_depth 0.0" in text
    assert "papertrans_store_failures_total 0.0" in text
    assert "papertrans_request_seconds_bucket" in text


async def test_openapi_and_docs(client: AppClient) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    assert {"/translate", "/jobs", "/jobs/{job_id}/events", "/adapters/{name}/versions", "/health"} <= set(
        schema["paths"]
    )
    page = await client.get("/docs/swagger")
    assert page.status_code == 200 and "swagger" in page.text.lower()


async def test_store_failure_does_not_lose_the_response(client: AppClient) -> None:
    store = client.app.state.store

    async def broken(rec: Any) -> None:
        raise RuntimeError("disk full")

    store.record_translation = broken
    r = await client.post("/translate", json={"markdown": "The model."})
    assert r.status_code == 200 and r.json()["markdown"]
    assert "papertrans_store_failures_total 1.0" in (await client.get("/metrics")).text


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAPERTRANS_PORT", "9123")
    monkeypatch.setenv("PAPERTRANS_MODEL", "fake")
    monkeypatch.setenv("PAPERTRANS_ADMIN_KEY", "k")
    monkeypatch.setenv("PAPERTRANS_TRANSLATE__MAX_RETRIES", "1")
    s = Settings()
    assert (s.port, s.model, s.admin_key, s.translate.max_retries) == (9123, "fake", "k", 1)


def test_serve_command_builds_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from papertrans.cli import main

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kw: Any) -> None:
        seen.update(kw, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("PAPERTRANS_PORT", "9000")
    assert main(["serve", "--model", "fake", "--data-dir", str(tmp_path), "--host", "0.0.0.0"]) == 0
    assert seen["host"] == "0.0.0.0" and seen["port"] == 9000
    assert seen["app"].state.settings.data_dir == tmp_path
    assert seen["app"].state.settings.model == "fake"


async def test_fake_model_setting_starts_the_fake_engine(tmp_path: Path) -> None:
    from papertrans.server.app import create_app

    app = create_app(Settings(data_dir=tmp_path, model="fake"))
    async with serve(app) as c:
        assert (await c.get("/health")).json()["model"] == "fake"
        assert (await c.post("/translate", json={"markdown": "The model."})).status_code == 200
