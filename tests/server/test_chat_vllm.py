"""The chat-provider engine on a REAL ``vllm serve`` playing the instruct provider: the embedded model (a base model
without a chat template) served with ``--chat-template tests/data/chat_template_fewshot.jinja`` (it frames the chat
turn's text as the few-shot completion a base model can continue), the placeholder constraint loaded: the session's
shared server (``served_vllm`` in tests/server/conftest.py), whose log each test reads from its own start.

Mechanism, not quality (the 270M base model is a poor translator): a dev document through a
papertrans app whose own engine is the :class:`ChatEngine` (``engine.provider.kind = openai-chat``, as
``papertrans serve`` builds it) comes back with no must-preserve item lost; the requests went to
``/v1/chat/completions`` with vLLM's template applied, and the constraint reached vLLM through ``vllm_xargs``.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from papertrans.server.app import create_app
from papertrans.server.engine import EngineSettings, Generation, ProviderSettings, SamplingOptions
from papertrans.server.engine.chat import ChatEngine
from papertrans.server.settings import Settings
from tests.server._preserve import assert_document_intact
from tests.server.conftest import CHAT_TEMPLATE, log_since, make_settings, serve

pytestmark = [pytest.mark.engine, pytest.mark.slow]

DOC = "d2l-en__reinforcement-learning__value-iter.md"


@pytest.fixture(scope="module")
def model_path() -> Path:
    from papertrans.contract.model import resolve_model

    base = Settings()  # type: ignore[call-arg]
    return Path(resolve_model(base.model, base.cache_dir))


@pytest.fixture
def chat_vllm(served_vllm: tuple[str, Path]) -> tuple[str, Path]:
    return served_vllm


def _provider(url: str, model_path: Path) -> ProviderSettings:
    # the few-shot frame's stops end an answer (a base model does not end its turn on its own); CPU vLLM on 2 shared
    # cores is slow, so a long timeout, and all of a document's requests in flight for vLLM to batch
    return ProviderSettings(
        kind="openai-chat",
        base_url=url,
        tokenizer=str(model_path),
        extra_stop=["\n\n", "\n英文：", "\n中文："],
        request_timeout_s=900,
        max_concurrency=32,
    )


async def test_the_template_from_the_command_line_is_applied(chat_vllm: tuple[str, Path], model_path: Path) -> None:
    from transformers import AutoTokenizer

    url, _ = chat_vllm
    messages = [{"role": "user", "content": "Translate it.\n\nText:\nThe model ⟦1⟧ reads."}]
    async with httpx.AsyncClient(timeout=60) as c:
        model = (await c.get(f"{url}/v1/models")).json()["data"][0]["id"]
        body = {"model": model, "messages": messages, "add_generation_prompt": True}
        tokens = (await c.post(f"{url}/tokenize", json=body)).json()["tokens"]
    tok = AutoTokenizer.from_pretrained(str(model_path))
    expected = tok.apply_chat_template(messages, chat_template=CHAT_TEMPLATE.read_text(), tokenize=False)
    assert tokens == tok.encode(expected, add_special_tokens=False)
    assert tok.decode(tokens).endswith("英文：The model ⟦1⟧ reads.\n中文：")


async def test_constraint_reaches_vllm_through_chat_xargs(chat_vllm: tuple[str, Path], model_path: Path) -> None:
    url, _ = chat_vllm
    engine = await ChatEngine.start(_provider(url, model_path), tokenizer=None)
    assert engine.vllm and engine.constrains and engine.supports_adapters
    from papertrans.contract.prompts import build_prompt

    items = [
        "The value ⟦1⟧ of a state ⟦2⟧ is the expected return.",
        "We update ⟦1⟧ for every state ⟦2⟧ until it converges.",
        "The policy ⟦1⟧ picks the action with the largest value ⟦2⟧.",
        "Value iteration ⟦1⟧ computes ⟦2⟧ from the rewards.",
    ]

    async def one(i: int, text: str) -> Generation:
        prompt, stop = build_prompt(engine, text)
        options = SamplingOptions(max_tokens=80, stop=tuple(stop), placeholders=("⟦1⟧", "⟦2⟧"), early_stop="close")
        return await engine.generate(prompt, options, request_id=f"xargs-{i}")

    gens = await asyncio.gather(*(one(i, text) for i, text in enumerate(items)))
    await engine.close()
    for g in gens:
        print(f"\nconstrained chat answer ({g.finish_reason}): {g.text!r}")
    # the constraint lets no placeholder come twice and none be invented, however the answer ended; and "close"
    # writes pending ones before a stop, so an answer the model ended carries both exactly once
    for g in gens:
        assert set(re.findall(r"⟦\d+⟧", g.text)) <= {"⟦1⟧", "⟦2⟧"} and g.text.count("⟦1⟧") <= 1, g.text
        assert g.text.count("⟦2⟧") <= 1, g.text
    stopped = [g for g in gens if g.finish_reason == "stop"]
    assert stopped, [g.finish_reason for g in gens]
    assert all(g.text.count("⟦1⟧") == 1 and g.text.count("⟦2⟧") == 1 for g in stopped), [g.text for g in stopped]


async def test_dev_document_through_the_chat_provider(
    chat_vllm: tuple[str, Path], model_path: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    url, log = chat_vllm
    offset = log.stat().st_size
    source = (corpus_dir / "docs" / DOC).read_text(encoding="utf-8")  # the whole document (the smaller of the two)
    settings = make_settings(tmp_path, engine=EngineSettings(provider=_provider(url, model_path)), engine_check_s=0)
    async with serve(create_app(settings)) as c:  # its own engine: start_engine builds the ChatEngine
        started = time.perf_counter()
        r = await c.post("/translate", json={"markdown": source})
        seconds = time.perf_counter() - started
        health = (await c.get("/health")).json()
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert_document_intact(source, body)
    stats = body["stats"]
    served = log_since(log, offset)
    chat_calls = served.count("POST /v1/chat/completions")
    print(
        f"\n{DOC} via the chat provider: {stats['segments']} segments, {stats['fallbacks']} "
        f"fallbacks, {stats['retries']} retries, {chat_calls} chat requests, {seconds:.1f} s"
    )
    engine = health["engine"]
    assert engine["provider"] == f"{url}/v1" and engine["vllm"] is True and engine["constrained"] is True
    assert body["adapter"] is None  # no starter adapter on a chat provider
    # some segments were translated through the chat path (the few-shot frame lets the base model translate)
    assert stats["fallbacks"] < stats["segments"]
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in body["markdown"]) > 20
    # the segments went through vLLM's chat endpoint (never the completions one), and every request was answered
    assert chat_calls > 0 and "POST /v1/completions" not in served
    assert not [s for s in body["segments"] if "engine_error" in s["reasons"]]


async def test_a_lora_adapter_is_named_per_request_on_vllm(
    chat_vllm: tuple[str, Path], model_path: Path, tmp_path: Path
) -> None:
    """On our vllm serve the chat engine serves adapters: registered through the admin API, loaded at runtime with
    /v1/load_lora_adapter, and named as the request's model on /v1/chat/completions."""
    import shutil

    from papertrans.contract import starter_folder
    from tests.server.conftest import ADMIN

    url, log = chat_vllm
    offset = log.stat().st_size
    starter = starter_folder()
    assert starter is not None
    settings = make_settings(tmp_path, engine=EngineSettings(provider=_provider(url, model_path)), engine_check_s=0)
    shutil.copytree(starter, settings.adapter_dir / "zh-run1")
    async with serve(create_app(settings)) as c:
        reg = await c.post("/adapters/zh/versions", json={"folder": "zh-run1"}, headers=ADMIN)
        assert reg.status_code == 201, reg.text
        assert (await c.post("/adapters/zh/activate", json={"version": 1}, headers=ADMIN)).is_success
        r = await c.post("/translate", json={"markdown": "The model reads the tokens.", "adapter": "zh"})
    assert r.status_code == 200 and r.json()["adapter"] == "zh@1", r.text[:500]
    # every request on the adapter was answered (a refused model name would be an engine_error or a 503)
    assert not [s for s in r.json()["segments"] if "engine_error" in s["reasons"]], r.text[:500]
    assert "POST /v1/load_lora_adapter" in log_since(log, offset)
    models = httpx.get(f"{url}/v1/models").json()["data"]
    assert "zh@1" in {m["id"] for m in models}
    print(f"\nadapter zh@1 through the chat provider: {r.json()['markdown']!r}")
