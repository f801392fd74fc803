"""POST /translate on the fake engine: shape, preservation, glossary, bilingual output, recording in the store."""

from __future__ import annotations

import functools
from typing import Any

from papertrans import protect
from papertrans.server.engine.fake import FakeEngine, item_of
from papertrans.server.samples import sample_paper
from tests.server._preserve import assert_document_intact, must_preserve
from tests.server.conftest import AppClient, serve

SENTENCE = "The attention mechanism lets the model focus on relevant tokens."


async def test_sample_paper_round_trip(client: AppClient) -> None:
    source = sample_paper()
    r = await client.post("/translate", json={"markdown": source})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"translation_id", "markdown", "segments", "stats", "model", "adapter", "terminology"}
    assert body["model"] == "fake" and body["adapter"] is None
    assert len(must_preserve(source)) > 15  # the sample really exercises math, code, roles and links
    assert_document_intact(source, body)
    assert "译：" in body["markdown"]
    stats = body["stats"]
    assert {"segments", "chunks", "tokens_in", "tokens_out", "seconds", "fallbacks", "glossary_adherence"} <= set(stats)
    assert stats["fallbacks"] == 0 and stats["tokens_in"] > 0 and stats["chunks"] >= 1
    assert all(s["status"] == "ok" for s in body["segments"])


async def test_all_items_are_submitted_concurrently(app_factory: Any) -> None:
    engine = FakeEngine(delay=0.2)
    async with serve(app_factory(engine)) as c:
        r = await c.post(
            "/translate", json={"markdown": "\n\n".join(f"Paragraph {i} of the paper." for i in range(10))}
        )
    assert r.status_code == 200
    # ten sequential requests would take 2 s; together they take one delay
    assert r.json()["stats"]["seconds"] < 1.0
    assert len(engine.requests) == 10


async def test_glossary_enforced_terms_reported(app_factory: Any) -> None:
    glossary = [{"source": "attention", "target": "注意力"}]
    # no output cache: the three apps share a data folder and their engines differ under the same model name
    app_factory = functools.partial(app_factory, translate={"cache": False})
    async with serve(app_factory(FakeEngine())) as c:  # fake says 关注, like the real small model
        bad = (await c.post("/translate", json={"markdown": SENTENCE, "glossary": glossary})).json()
    assert bad["stats"]["glossary_adherence"] == 0.0
    assert "glossary_term_missing" in bad["segments"][0]["reasons"]
    async with serve(app_factory(FakeEngine(vocab={"attention": "注意力"}))) as c:
        good = (await c.post("/translate", json={"markdown": SENTENCE, "glossary": glossary})).json()
    assert "注意力" in good["markdown"]
    assert good["stats"]["glossary_adherence"] == 1.0
    async with serve(app_factory(FakeEngine())) as c:
        none = (await c.post("/translate", json={"markdown": SENTENCE})).json()
    assert none["stats"]["glossary_adherence"] is None


async def test_glossary_terms_reach_the_prompt(app_factory: Any) -> None:
    prompts: list[str] = []
    engine = FakeEngine()
    original = engine.source_of

    def spy(prompt: str) -> str:
        prompts.append(prompt)
        return original(prompt)

    engine.source_of = spy
    async with serve(app_factory(engine)) as c:
        md = f"{SENTENCE}\n\nA paragraph without the term."
        await c.post("/translate", json={"markdown": md, "glossary": [{"source": "attention", "target": "注意力"}]})
    # the segments' prompts (a term request of the terminology step carries a segment as context only)
    with_term = [p for p in prompts if "focus" in item_of(p)]
    without = [p for p in prompts if "without the term" in item_of(p)]
    assert with_term and "注意力" in with_term[0]
    assert without and "注意力" not in without[0]


async def test_bilingual_output_keeps_source_and_translation(client: AppClient) -> None:
    md = "First paragraph about the model.\n\nSecond paragraph with $x^2$."
    body = (await client.post("/translate", json={"markdown": md, "output": "bilingual"})).json()
    out = body["markdown"]
    assert "First paragraph about the model." in out and "$x^2$" in out
    assert "模型" in out


async def test_translation_is_recorded_in_the_store(app_factory: Any) -> None:
    async with serve(app_factory(FakeEngine())) as c:
        body = (await c.post("/translate", json={"markdown": SENTENCE})).json()
        store = c.app.state.store
        assert store is not None
        rec = await store.get_translation(body["translation_id"])
    assert rec is not None
    assert rec["segments"][0]["segment_id"] == body["segments"][0]["id"]


async def test_fake_engine_follows_both_prompt_styles(app_factory: Any) -> None:
    """The fake finds the item in chat prompts and in few-shot completion prompts (the embedded model's style)."""
    for chat in (True, False):
        engine = FakeEngine(chat_template=chat)
        async with serve(app_factory(engine)) as c:
            body = (await c.post("/translate", json={"markdown": "We train the model with $x$."})).json()
        assert body["segments"][0]["status"] == "ok", (chat, body)
        assert body["markdown"] == "译：我们 train 这 模型 with $x$.", chat
        assert engine.requests[0].source == f"We train the model with {protect.DEFAULT_STYLE.make(1)}."
