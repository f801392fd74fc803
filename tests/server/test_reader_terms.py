"""Glossary terms mined from readers' corrections: proposed when readers keep correcting a term to the same target,
accepted through the admin API, enforced at once in /translate (under the request's own glossary), while the
translation memory keeps serving exact matches. The fake engine leaves unknown English words as they are, so
"prefix cache" comes back untranslated and readers correct it (a term the shipped term base does not have)."""

from __future__ import annotations

from typing import Any

from papertrans.server.engine import Generation
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.reader_terms import merge_glossary, propose
from tests.server.conftest import ADMIN, AppClient

SENTENCES = [
    ("The prefix cache keeps each prompt.", "前缀缓存保存每个提示。"),
    ("We clear the prefix cache after warm-up.", "我们在预热之后清空前缀缓存。"),
    ("A large prefix cache makes serving fast.", "较大的前缀缓存使服务变快。"),
    ("The scheduler splits batches.", "调度器切分批次。"),
]


async def _correct(client: AppClient, en: str, zh: str) -> None:
    body = (await client.post("/translate", json={"markdown": en})).json()
    seg = body["segments"][0]
    assert "prefix cache" not in en or "prefix cache" in seg["translation"]  # the fake does not know the term
    r = await client.post(
        "/feedback", json={"translation_id": body["translation_id"], "segment_id": seg["id"], "correction": zh}
    )
    assert r.status_code in (200, 201), r.text


def test_mining_links_each_term_to_the_target_readers_agree_on() -> None:
    rows = [
        ("The learning rate ⟦1⟧ controls each step.", "这 learning rate ⟦1⟧ 控制。", "学习率 ⟦1⟧ 控制每一步。"),
        ("We decay the learning rate.", "我们衰减 learning rate。", "我们衰减学习率。"),
        ("A large learning rate hurts.", "一个大的 learning rate 有害。", "较大的学习率有害。"),
        ("The tokenizer is fast.", "这 tokenizer 很快。", "分词器很快。"),
        ("Each tokenizer has a vocabulary.", "每个 tokenizer 有一个词表。", "每个分词器都有一个词表。"),
    ]
    found = {(p.source, p.target): p for p in propose(rows, min_corrections=3)}
    assert list(found) == [("learning rate", "学习率")]  # the tokenizer has 2 corrections < 3; no "rate" -> "率"
    assert found["learning rate", "学习率"].support == 3 and found["learning rate", "学习率"].consistency == 1.0
    assert ("tokenizer", "分词器") in {(p.source, p.target) for p in propose(rows, min_corrections=2)}
    # readers who disagree (one of three uses another word) fall under the consistency bar
    split = [*rows[:2], ("A large learning rate hurts.", "一个大的 learning rate 有害。", "较大的步长有害。")]
    assert propose(split, min_corrections=2, min_consistency=0.8) == []
    assert propose(rows, decided=[("Learning Rate", "学习率")]) == []  # decided terms (and their parts) not again
    assert merge_glossary([("learning rate", "学习速率")], [("learning rate", "学习率"), ("tokenizer", "分词器")]) == [
        ("learning rate", "学习速率"),
        ("tokenizer", "分词器"),
    ]  # the request's own entry wins


def _record_prompts(engine: FakeEngine) -> list[str]:
    """The prompts the engine is sent from now on (the glossary lines the pipeline writes into them)."""
    prompts: list[str] = []
    generate = engine.generate

    async def recording(prompt: str, *args: Any, **kwargs: Any) -> Generation:
        prompts.append(prompt)
        return await generate(prompt, *args, **kwargs)

    engine.generate = recording  # type: ignore[method-assign]
    return prompts


async def test_proposed_accepted_and_enforced_at_once(client: AppClient, fake_engine: FakeEngine) -> None:
    prompts = _record_prompts(fake_engine)
    for en, zh in SENTENCES:
        await _correct(client, en, zh)
    assert (await client.get("/glossary/proposals")).status_code == 401  # admin only
    proposals = (await client.get("/glossary/proposals", headers=ADMIN)).json()["proposals"]
    assert [(p["source"], p["target"], p["support"]) for p in proposals] == [("prefix cache", "前缀缓存", 3)]

    new = "The prefix cache is tuned on held-out data."
    before = len(prompts)
    await client.post("/translate", json={"markdown": new})
    assert prompts[before:] and not any("前缀缓存" in p for p in prompts[before:])

    r = await client.post(
        "/glossary/proposals/accept", json={"source": "prefix cache", "target": "前缀缓存"}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json()["status"] == "accepted" and r.json()["support"] == 3
    before = len(prompts)
    body = (await client.post("/translate", json={"markdown": new})).json()
    assert body["stats"]["glossary_adherence"] is not None  # the term is in this request's glossary now
    assert any("prefix cache" in p and "前缀缓存" in p for p in prompts[before:])  # and in the prompt: enforced
    assert (await client.get("/glossary/proposals", headers=ADMIN)).json()["proposals"] == []  # decided

    # the memory still answers a corrected segment with the reader's correction
    again = (await client.post("/translate", json={"markdown": SENTENCES[0][0]})).json()
    assert again["segments"][0]["status"] == "memory" and again["segments"][0]["translation"] == SENTENCES[0][1]
    # a request's own glossary wins over an accepted term
    before = len(prompts)
    own = await client.post(
        "/translate", json={"markdown": new, "glossary": [{"source": "prefix cache", "target": "前缀快取"}]}
    )
    assert own.status_code == 200
    assert any("前缀快取" in p for p in prompts[before:]) and not any("前缀缓存" in p for p in prompts[before:])

    r = await client.post(
        "/glossary/proposals/reject", json={"source": "prefix cache", "target": "前缀缓存"}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    body = (await client.post("/translate", json={"markdown": new})).json()
    assert body["stats"]["glossary_adherence"] is None  # no longer enforced
    terms = (await client.get("/glossary/terms", headers=ADMIN)).json()["terms"]
    assert [(t["source"], t["status"]) for t in terms] == [("prefix cache", "rejected")]


async def test_bad_terms_and_queries_are_400(client: AppClient) -> None:
    r = await client.post("/glossary/proposals/accept", json={"source": " ", "target": "学习率"}, headers=ADMIN)
    assert r.status_code == 400
    r = await client.get("/glossary/proposals?min_consistency=2", headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"] == "invalid_query"
