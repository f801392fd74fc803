"""The chat-provider engine (server/engine/chat.py) against a fake OpenAI-compatible provider (tests/server/_fake_openai):
request shape, the chat prompt as messages, Retry-After and backoff, timeouts, malformed answers, refusals,
reasoning text, authentication, limits, vLLM detection (LoRA, constraint) and the key kept secret."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from papertrans.contract.prompts import build_prompt
from papertrans.server.engine import (
    AdapterLoadError,
    AdapterRef,
    EngineError,
    EngineUnavailableError,
    ProviderSettings,
    SamplingOptions,
)
from papertrans.server.engine.chat import ChatEngine, decode_messages, strip_thinking
from tests.server._fake_openai import FakeOpenAI, answer, completion, error, raw, status, think
from tests.server.conftest import make_adapter

KEY = "sk-fake-provider-key-0123456789"
OPTS = SamplingOptions(max_tokens=64, placeholders=("⟦1⟧", "⟦2⟧"))
TEXT = "The model ⟦1⟧ attends to ⟦2⟧."


class Waits:
    """Records the waits the client asks for, and advances a fake clock by them (nothing real is slept)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        self.now += seconds
        await asyncio.sleep(0)


def provider(**overrides: Any) -> ProviderSettings:
    base: dict[str, Any] = {"kind": "openai-chat", "base_url": "http://provider.test/v1", "model": "qwen3"}
    base.update(api_key=KEY, backoff_s=0.5, backoff_max_s=4.0, max_attempts=4)
    base.update(overrides)
    return ProviderSettings(**base)


async def engine_for(fake: FakeOpenAI, waits: Waits | None = None, **overrides: Any) -> ChatEngine:
    engine = await ChatEngine.start(provider(**overrides), transport=fake.transport())
    if waits is not None:
        engine.client.sleep, engine.client.clock = waits.sleep, waits.clock
    return engine


def prompt_for(engine: ChatEngine, text: str = TEXT) -> str:
    return build_prompt(engine, text, title="A Paper", glossary_entries=[("attention", "注意力")])[0]


# -- request shape --------------------------------------------------------------------------------------------------


async def test_chat_prompt_goes_as_messages_with_the_key_in_the_header_only() -> None:
    fake = FakeOpenAI()
    engine = await engine_for(fake)
    prompt = prompt_for(engine)
    gen = await engine.generate(prompt, OPTS, request_id="r1")
    body = fake.chat_requests[0]
    assert body["model"] == "qwen3" and body["max_tokens"] == 64 and body["stream"] is False
    (message,) = body["messages"]
    assert message["role"] == "user" and message["content"].endswith(f"Text:\n{TEXT}")
    assert "Paper: A Paper" in message["content"] and "attention → 注意力" in message["content"]
    # not our vLLM: no vLLM-only fields (other providers refuse unknown ones), no adapters
    assert "vllm_xargs" not in body and "repetition_detection" not in body and "stop" not in body
    assert fake.headers[0]["authorization"] == f"Bearer {KEY}" and fake.headers[0]["x-request-id"] == "r1"
    assert gen.text.startswith("译：") and "⟦1⟧" in gen.text and gen.finish_reason == "stop" and gen.tokens_in == 11
    assert decode_messages(prompt) == body["messages"]  # what the store records is what was sent
    assert KEY not in repr(engine) and KEY not in repr(engine.settings) and KEY not in str(await engine.health())
    await engine.close()


async def test_plain_prompt_is_one_user_message_and_options_map() -> None:
    fake = FakeOpenAI()
    engine = await engine_for(fake, extra_stop=["<end_of_turn>"], reasoning_tokens=100)
    opts = SamplingOptions(max_tokens=10, temperature=0.7, seed=5, stop=("\n\n",))
    await engine.generate("Text:\nhello world", opts, request_id="r")
    body = fake.chat_requests[0]
    assert body["messages"] == [{"role": "user", "content": "Text:\nhello world"}]
    assert body["stop"] == ["\n\n", "<end_of_turn>"] and body["seed"] == 5 and body["temperature"] == 0.7
    assert body["max_tokens"] == 110  # the reasoning budget on top
    await engine.close()


async def test_count_tokens_estimates_without_a_tokenizer_and_uses_one_when_given() -> None:
    class Words:
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return list(range(len(text.split())))

    fake = FakeOpenAI()
    estimate = await engine_for(fake)
    assert estimate.count_tokens("a" * 30) == 10 and estimate.count_tokens("") == 1
    assert estimate.has_chat_template()
    local = await ChatEngine.start(provider(), tokenizer=Words(), transport=fake.transport())
    assert local.count_tokens("three short words") == 3
    await estimate.close()
    await local.close()


def test_settings_from_the_environment_keep_the_key_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from papertrans.server.settings import Settings

    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__KIND", "openai-chat")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__BASE_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__MODEL", "qwen3:8b")
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__API_KEY", KEY)
    monkeypatch.setenv("PAPERTRANS_ENGINE__PROVIDER__REQUESTS_PER_MINUTE", "30")
    p = Settings().engine.provider  # type: ignore[call-arg]
    assert p.kind == "openai-chat" and p.model == "qwen3:8b" and p.requests_per_minute == 30
    assert p.api_key is not None and p.api_key.get_secret_value() == KEY
    assert KEY not in repr(p) and KEY not in p.model_dump_json() and KEY not in str(Settings())  # type: ignore[call-arg]
    assert Settings(_env_file=None).engine.provider.kind == "openai-chat"  # type: ignore[call-arg]


async def test_key_from_a_file_or_a_named_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeOpenAI()
    (tmp_path / "key").write_text(f"  {KEY}\n")
    by_file = await engine_for(fake, api_key=None, api_key_file=tmp_path / "key")
    await by_file.generate("Text:\nthe model", OPTS, request_id="f")
    monkeypatch.setenv("MY_PROVIDER_KEY", KEY)
    by_env = await engine_for(fake, api_key=None, api_key_env="MY_PROVIDER_KEY")
    await by_env.generate("Text:\nthe model", OPTS, request_id="e")
    assert [h["authorization"] for h in fake.headers] == [f"Bearer {KEY}"] * 2
    monkeypatch.delenv("MY_PROVIDER_KEY")
    with pytest.raises(EngineUnavailableError, match="MY_PROVIDER_KEY is not set"):
        await engine_for(fake, api_key=None, api_key_env="MY_PROVIDER_KEY")
    with pytest.raises(EngineUnavailableError, match="cannot read the API key file"):
        await engine_for(fake, api_key=None, api_key_file=tmp_path / "missing")
    await by_file.close()
    await by_env.close()


async def test_base_url_without_a_path_gets_v1_and_the_model_is_discovered() -> None:
    fake = FakeOpenAI(model="llama-3.1-8b")
    engine = await engine_for(fake, base_url="http://provider.test:8080/", model="")
    assert engine.client.base_url == "http://provider.test:8080/v1" and engine.served_model == "llama-3.1-8b"
    await engine.generate("Text:\nthe model", OPTS, request_id="d")
    assert fake.chat_requests[0]["model"] == "llama-3.1-8b"
    await engine.close()


# -- retries, limits, timeouts --------------------------------------------------------------------------------------


async def test_429_honours_retry_after_and_pauses_the_whole_provider() -> None:
    fake, waits = FakeOpenAI(), Waits()
    engine = await engine_for(fake, waits)
    fake.script = [status(429, retry_after="3")]
    gen = await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert gen.text.startswith("译：") and len(fake.chat_requests) == 2
    assert waits.waits == [3.0]
    assert engine.client._paused_until == waits.now  # the next request would have waited too
    fake.script = [status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")]  # a date in the past: no wait
    await engine.generate(prompt_for(engine), OPTS, request_id="r2")
    assert waits.waits == [3.0, 0.0]
    await engine.close()


async def test_5xx_backs_off_exponentially_then_succeeds() -> None:
    fake, waits = FakeOpenAI(), Waits()
    engine = await engine_for(fake, waits)
    fake.script = [status(503), status(502), status(500)]
    gen = await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert gen.text and len(fake.chat_requests) == 4 and waits.waits == [0.5, 1.0, 2.0]
    await engine.close()


async def test_5xx_every_time_is_one_failed_request_after_the_last_try() -> None:
    fake, waits = FakeOpenAI(), Waits()
    engine = await engine_for(fake, waits, max_attempts=3, backoff_s=10, backoff_max_s=15)
    fake.always = status(500, message="internal")
    with pytest.raises(EngineError, match=r"answered 500: internal \(after 3 tries\)") as info:
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert not isinstance(info.value, EngineUnavailableError)  # one request: the pipeline retries, then falls back
    assert len(fake.chat_requests) == 3 and waits.waits == [10.0, 15.0]  # capped by backoff_max_s
    await engine.close()


async def test_a_retry_after_beyond_the_limit_fails_at_once_as_unavailable() -> None:
    fake, waits = FakeOpenAI(), Waits()
    engine = await engine_for(fake, waits, max_retry_after_s=60)
    fake.script = [status(429, retry_after="3600", message="daily quota spent")]
    with pytest.raises(EngineUnavailableError, match="asks to wait 3600 s.*daily quota spent"):
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert len(fake.chat_requests) == 1 and waits.waits == []
    await engine.close()


async def test_timeout_is_a_failed_request_and_a_dead_provider_is_unavailable() -> None:
    fake, waits = FakeOpenAI(), Waits()
    engine = await engine_for(fake, waits)
    fake.script = [error(lambda r: httpx.ReadTimeout("slow", request=r))]
    with pytest.raises(EngineError, match="did not answer in time") as info:
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert not isinstance(info.value, EngineUnavailableError) and len(fake.chat_requests) == 1
    fake.always = error(lambda r: httpx.ConnectError("connection refused", request=r))
    with pytest.raises(EngineUnavailableError, match="cannot reach http://provider.test/v1.*after 4 tries"):
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert waits.waits == [0.5, 1.0, 2.0]
    await engine.close()


async def test_a_provider_that_never_answers_times_out() -> None:
    """A real socket that accepts and never answers: the request ends by request_timeout_s, not a hang."""
    hold: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hold.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = provider(base_url=f"http://127.0.0.1:{port}/v1", request_timeout_s=0.3)
    engine = ChatEngine(settings)
    try:
        with pytest.raises(EngineError, match="did not answer in time"):
            await engine.generate("Text:\nthe model", OPTS, request_id="t")
        health = await engine.health()
        assert health["state"] == "unavailable"
    finally:
        await engine.close()
        server.close()
        for w in hold:
            w.close()
        await server.wait_closed()


async def test_concurrency_is_bounded_per_provider() -> None:
    fake = FakeOpenAI()
    fake.delay = 0.02
    engine = await engine_for(fake, max_concurrency=2)
    await asyncio.gather(*(engine.generate(f"Text:\nthe model {i}", OPTS, request_id=f"c{i}") for i in range(6)))
    assert len(fake.chat_requests) == 6 and fake.max_in_flight == 2
    await engine.close()


async def test_requests_per_minute_spreads_request_starts() -> None:
    fake, waits = FakeOpenAI(), Waits()
    engine = await engine_for(fake, waits, requests_per_minute=120)
    for i in range(4):
        await engine.generate(f"Text:\nthe model {i}", OPTS, request_id=f"p{i}")
    assert waits.waits == [0.5, 0.5, 0.5]  # the first starts at once, then one every 60/120 s
    await engine.close()


# -- answers that are not translations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (raw(200, "<html>bad gateway</html>", "text/html"), "without valid JSON"),
        (raw(200, '{"choices": [{"index": 0, "message": '), "without valid JSON"),
        (raw(200, "[1, 2]"), "not an object"),
        (raw(200, '{"choices": []}'), "no choices"),
        (raw(200, '{"choices": [{"index": 0, "text": "a completion, not a chat"}]}'), "without a message"),
        (answer(lambda t: completion("", finish="content_filter")), r"refused to answer \(content_filter\)"),
        (answer(lambda t: completion(None, refusal="I can't help with that.")), "refused to answer: I can't help"),
        (raw(200, '{"error": {"message": "upstream model overloaded"}}'), "answered an error: upstream model"),
        (status(400, message="Content Exists Risk"), r"refused the request \(400\): Content Exists Risk"),
        (status(422, message="max_tokens too large"), r"refused the request \(422\)"),
    ],
)
async def test_malformed_answers_and_refusals_are_clear_engine_errors(fault: Any, match: str) -> None:
    fake = FakeOpenAI()
    engine = await engine_for(fake)
    fake.script = [fault]
    with pytest.raises(EngineError, match=match) as info:
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert not isinstance(info.value, EngineUnavailableError)  # the pipeline retries it, then falls back
    assert len(fake.chat_requests) == 1  # not retried inside the engine: the ladder decides
    await engine.close()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: f"<think>The user wants Chinese. 译：wrong</think>\n\n{t}",
        lambda t: f"<think>\nfirst</think><think>second</think>{t}",
        lambda t: f"The template opened the thought in the prompt.</think>\n{t}",
        lambda t: f"<THINKING>shouting</THINKING>{t}",
    ],
)
async def test_thinking_never_reaches_the_output(wrap: Any) -> None:
    fake = FakeOpenAI()
    engine = await engine_for(fake)
    fake.script = [think(wrap)]
    gen = await engine.generate(prompt_for(engine), OPTS, request_id="r")
    assert gen.text.startswith("译：") and "think" not in gen.text.lower() and "user wants" not in gen.text
    await engine.close()


def test_strip_thinking_edge_cases() -> None:
    assert strip_thinking("<think>cut by max_tokens, never closed") == ""
    assert strip_thinking("答案<think>then more thought") == "答案"
    assert strip_thinking("plain ⟦1⟧ text ") == "plain ⟦1⟧ text "  # untouched when there is no tag
    assert strip_thinking("partial <thi", final=False) == "partial "  # a stream holds back what may be a tag
    assert strip_thinking("a < b", final=False) == "a < b"


async def test_stream_yields_the_answer_without_the_thought() -> None:
    chunks = ["<th", "ink>hidden ", "reasoning</th", "ink>\n译：", "模型", " ⟦1⟧", " <", "b>"]

    async def sse(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        import json

        lines = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': c}}]})}" for c in chunks]
        lines.insert(1, f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'reasoning_content': 'x'}}]})}")
        return httpx.Response(200, text="\n\n".join([*lines, "data: [DONE]"]) + "\n\n")

    fake = FakeOpenAI()
    engine = await engine_for(fake)
    fake.script = [sse]
    deltas = [d async for d in engine.stream(prompt_for(engine), SamplingOptions(), request_id="s")]
    assert "".join(deltas) == "译：模型 ⟦1⟧ <b>" and not any("hidden" in d or "<th" in d for d in deltas)
    assert fake.chat_requests[0]["stream"] is True
    await engine.close()


# -- authentication and the secret ----------------------------------------------------------------------------------


async def test_wrong_key_is_unavailable_with_a_reason_and_the_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeOpenAI(key="sk-the-right-one")
    engine = await engine_for(fake)  # the provider answers 401 at start: logged, the engine still starts
    with pytest.raises(EngineUnavailableError, match="refused the API key \\(401") as info:
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    health = await engine.health()
    assert health["state"] == "unavailable" and "refused the API key" in str(health["error"])
    # the fake echoes the key it was sent ("Incorrect API key provided: sk-..."): scrubbed everywhere
    assert "Incorrect API key provided: ***" in str(info.value)
    for text in (str(info.value), repr(info.value), str(health), caplog.text, repr(engine)):
        assert KEY not in text
    await engine.close()


# -- our vllm serve: constraint and LoRA ----------------------------------------------------------------------------


async def test_vllm_provider_gets_the_constraint_and_serves_adapters(tmp_path: Path) -> None:
    fake = FakeOpenAI(owned_by="vllm", key=None)
    engine = await engine_for(fake, api_key=None)
    assert engine.vllm and engine.supports_adapters and engine.constrains
    await engine.generate(prompt_for(engine), OPTS, request_id="r")
    body = fake.chat_requests[0]
    assert body["vllm_xargs"] == {"placeholders": ["⟦1⟧", "⟦2⟧"], "early_stop": "close"}
    assert body["repetition_detection"]["min_count"] == 4 and "authorization" not in fake.headers[0]
    folder = make_adapter(tmp_path, "d2l")
    ref = AdapterRef("d2l@1", 1, str(folder))
    await engine.add_adapter(ref)
    await engine.generate(prompt_for(engine), OPTS, adapter=ref, request_id="a")
    assert fake.loaded == ["d2l@1"] and fake.chat_requests[-1]["model"] == "d2l@1"
    assert await engine.list_adapters() == [1]
    fake.loaded.clear()  # vllm serve restarted and lost its runtime adapters: loaded again, once
    await engine.generate(prompt_for(engine), OPTS, adapter=ref, request_id="b")
    assert fake.loaded == ["d2l@1"]
    off = await engine_for(fake, api_key=None, constrain=False)
    await off.generate(prompt_for(off), OPTS, request_id="o")
    assert "vllm_xargs" not in fake.chat_requests[-1]
    await engine.remove_adapter(ref)
    assert await engine.list_adapters() == []
    await engine.close()
    await off.close()


async def test_other_providers_refuse_adapters(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    engine = await engine_for(fake)
    assert not engine.supports_adapters and not engine.constrains
    ref = AdapterRef("d2l@1", 1, str(make_adapter(tmp_path, "d2l")))
    with pytest.raises(AdapterLoadError, match="serves no LoRA adapters"):
        await engine.add_adapter(ref)
    with pytest.raises(AdapterLoadError, match="serves no LoRA adapters"):
        await engine.generate(prompt_for(engine), OPTS, adapter=ref, request_id="r")
    assert fake.chat_requests == []
    forced = await engine_for(fake, supports_lora=True)  # a gateway known to route LoRA names
    assert forced.supports_adapters
    await engine.close()
    await forced.close()


async def test_unknown_model_is_unavailable_with_a_hint() -> None:
    fake = FakeOpenAI()
    engine = await engine_for(fake, model="no-such-model")
    with pytest.raises(EngineUnavailableError, match="404.*check base_url and model"):
        await engine.generate(prompt_for(engine), OPTS, request_id="r")
    await engine.close()
