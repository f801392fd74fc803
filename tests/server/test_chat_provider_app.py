"""Whole ``/translate`` requests through ``create_app`` with the chat-provider engine on the fake OpenAI-compatible
provider: every failure mode ends in a retry, a fallback, or a clear 503/422 with a reason (never a 500 or a hang),
and the API key appears in no response and no log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from papertrans.server.app import create_app
from papertrans.server.engine import EngineSettings, ProviderSettings
from papertrans.server.engine.chat import ChatEngine
from papertrans.server.samples import sample_paper
from tests.server._fake_openai import FakeOpenAI, answer, completion, error, raw, status, think
from tests.server._preserve import assert_document_intact
from tests.server.conftest import ADMIN, AppClient, make_adapter, make_settings, serve

KEY = "sk-fake-provider-key-0123456789"
DOC = (
    "# Attention\n\nThe attention mechanism lets the model focus on $x_i$ and `tokens`.\n\n"
    "We minimize the loss $L$ over the parameters, see [the docs](https://example.org/a).\n"
)


def provider(**overrides: Any) -> ProviderSettings:
    base: dict[str, Any] = {"kind": "openai-chat", "base_url": "http://provider.test/v1", "model": "qwen3"}
    base.update(api_key=KEY, backoff_s=0.0, max_attempts=2, max_retry_after_s=5)
    base.update(overrides)
    return ProviderSettings(**base)


async def _no_sleep(seconds: float) -> None:
    return None


async def app_on(fake: FakeOpenAI, tmp_path: Path, **overrides: Any) -> tuple[AppClient, Any]:
    engine = await ChatEngine.start(provider(**overrides), transport=fake.transport())
    engine.client.sleep = _no_sleep  # Retry-After and backoff are asserted in test_chat_engine.py
    settings = make_settings(tmp_path, engine=EngineSettings(provider=provider(**overrides)), engine_check_s=0)
    return engine, serve(create_app(settings, engine=engine))


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def client(fake: FakeOpenAI, tmp_path: Path) -> AsyncIterator[AppClient]:
    engine, ctx = await app_on(fake, tmp_path)
    async with ctx as c:
        yield c
    await engine.close()


def _no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


async def test_sample_paper_through_a_chat_provider(
    client: AppClient, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = sample_paper()
    r = await client.post("/translate", json={"markdown": source})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_document_intact(source, body)
    assert body["stats"]["fallbacks"] == 0 and "译：" in body["markdown"]
    assert body["model"] == "qwen3" and body["adapter"] is None  # no starter on a chat provider
    assert fake.chat_requests and all(b["messages"][0]["role"] == "user" for b in fake.chat_requests)
    health = await client.get("/health")
    assert health.status_code == 200 and health.json()["engine"]["provider"] == "http://provider.test/v1"
    _no_key(r.text, health.text, caplog.text)


@pytest.mark.parametrize(
    "fault",
    [
        status(503, message="overloaded"),
        status(429, retry_after="1"),
        raw(200, "<html>502 Bad Gateway</html>", "text/html"),
        answer(lambda t: completion("", finish="content_filter")),
        answer(lambda t: completion(None, refusal="I cannot help with that.")),
        status(400, message="Content Exists Risk"),
        error(lambda r: httpx.ReadTimeout("slow", request=r)),
    ],
)
async def test_a_provider_failing_every_request_gives_fallbacks_not_errors(
    fake: FakeOpenAI, client: AppClient, fault: Any
) -> None:
    fake.always = fault
    r = await client.post("/translate", json={"markdown": DOC})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_document_intact(DOC, body)
    prose = [s for s in body["segments"] if s["status"] != "ok" or s["reasons"]]
    assert prose and all(s["status"] == "fallback" and "engine_error" in s["reasons"] for s in prose)


async def test_a_failure_then_success_is_a_retry_inside_the_engine(fake: FakeOpenAI, client: AppClient) -> None:
    fake.script = [status(429, retry_after="1"), status(502), raw(200, "not json")]
    r = await client.post("/translate", json={"markdown": DOC})
    assert r.status_code == 200 and r.json()["stats"]["fallbacks"] == 0, r.text
    assert_document_intact(DOC, r.json())


async def test_thinking_is_never_in_the_document(fake: FakeOpenAI, client: AppClient) -> None:
    fake.always = think(lambda t: f"<think>The user wants Chinese; maybe 'attention' is 关注?</think>\n{t}")
    r = await client.post("/translate", json={"markdown": DOC})
    assert r.status_code == 200 and r.json()["stats"]["fallbacks"] == 0, r.text
    md = r.json()["markdown"]
    assert "think" not in md and "user wants" not in md and "Let me think" not in md and "译：" in md


@pytest.mark.parametrize(
    ("fake_key", "fault", "reason"),
    [
        ("sk-the-right-one", None, "refused the API key (401"),
        (KEY, status(403, message="region not allowed"), "refused the API key (403: region not allowed"),
        (KEY, status(429, retry_after="86400", message="quota"), "asks to wait 86400 s"),
        (KEY, error(lambda r: httpx.ConnectError("refused", request=r)), "cannot reach http://provider.test/v1"),
    ],
)
async def test_a_provider_that_cannot_serve_is_a_503_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fake_key: str, fault: Any, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeOpenAI(key=fake_key)
    fake.always = fault
    engine, ctx = await app_on(fake, tmp_path)
    async with ctx as c:
        r = await c.post("/translate", json={"markdown": DOC})
        job = await c.post("/jobs", json={"markdown": DOC})
        health = await c.get("/health")
    await engine.close()
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "engine_unavailable" and reason in r.json()["detail"], r.text
    assert r.headers["retry-after"]
    assert job.status_code in (201, 202)  # a job is queued; it fails with the same reason when it runs
    _no_key(r.text, job.text, health.text, caplog.text)


async def test_requests_naming_an_adapter_are_refused_early(
    fake: FakeOpenAI, client: AppClient, tmp_path: Path
) -> None:
    r = await client.post("/translate", json={"markdown": DOC, "adapter": "d2l"})
    assert r.status_code == 422 and r.json()["error"] == "adapters_unsupported", r.text
    assert "omit 'adapter'" in r.json()["detail"]
    job = await client.post("/jobs", json={"markdown": DOC, "adapter": "d2l"})
    assert job.status_code == 422 and job.json()["error"] == "adapters_unsupported", job.text
    make_adapter(tmp_path / "data" / "adapters", "d2l-run1")
    reg = await client.post("/adapters/d2l/versions", json={"folder": "d2l-run1"}, headers=ADMIN)
    assert reg.status_code == 422 and reg.json()["error"] == "adapters_unsupported", reg.text
    base = await client.post("/translate", json={"markdown": DOC, "adapter": "none"})  # the base model is fine
    assert base.status_code == 200, base.text
    assert fake.chat_requests  # only the last request reached the provider


async def test_serve_starts_the_chat_engine_from_settings(
    monkeypatch: pytest.MonkeyPatch, fake: FakeOpenAI, tmp_path: Path
) -> None:
    """``PAPERTRANS_ENGINE__PROVIDER__KIND=openai-chat``: start_engine builds the chat engine (no vLLM, no model
    conversion, no starter adapter) and the app closes it."""
    started: list[ChatEngine] = []
    real_start = ChatEngine.start.__func__  # type: ignore[attr-defined]

    async def start(cls: type[ChatEngine], settings: ProviderSettings, **kw: Any) -> ChatEngine:
        engine: ChatEngine = await real_start(cls, settings, **kw, transport=fake.transport())
        started.append(engine)
        return engine

    monkeypatch.setattr(ChatEngine, "start", classmethod(start))
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__KIND", "openai-chat")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__BASE_URL", "http://provider.test")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__API_KEY_ENV", "FAKE_PROVIDER_KEY")
    monkeypatch.setenv("FAKE_PROVIDER_KEY", KEY)
    async with serve(create_app(make_settings(tmp_path, engine_check_s=0))) as c:
        r = await c.post("/translate", json={"markdown": DOC})
        adapters = (await c.get("/adapters", headers=ADMIN)).json()
    assert r.status_code == 200 and r.json()["model"] == "qwen3", r.text  # the model name asked from /v1/models
    assert adapters == [] and started and started[0]._closed
