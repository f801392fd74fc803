"""Document terminology through the pipeline and /translate on a fake engine: the layers' precedence (user > term base
> model), the term base off, the model requests bounded and counted, the consistency figure on a known case, and the
document's glossary in the prompts of the segments that use a term."""

from __future__ import annotations

import re
from typing import Any

from papertrans import protect
from papertrans.contract.termbase import term_base
from papertrans.server.engine.fake import FakeEngine, item_of
from papertrans.server.pipeline import Pipeline
from papertrans.server.settings import TranslateSettings
from papertrans.server.terminology import Terminology, term_translation
from tests.server.conftest import serve

DOC = """# Learning

The agent learns a value function for each state. The value function guides the policy.

A good value function and a bad value function differ; a soft actor critic (SAC) uses one.

The replay memory stores transitions. The replay memory is large, and the replay memory is sampled.
"""
BASE = protect.Glossary.from_pairs([("value function", "价值函数"), ("policy", "策略"), ("agent", "智能体")])
USER = protect.Glossary.from_pairs([("policy", "方针")])
# What the fake "model" writes for a phrase, longest first; the glossary never changes it (so consistency can be
# known): "replay memory is large" is rendered without the chosen 回放记忆, policy as 策略 where the user wants 方针.
PHRASES = {
    "replay memory is large": "经验池很大",
    "replay memory": "回放记忆",
    "value function": "价值函数",
    "soft actor critic": "柔性行动者评论家",
    "policy": "策略",
}
TERMS = ("replay memory", "soft actor critic", "value function", "policy", "agent")  # a term request's items


class PhraseEngine(FakeEngine):
    """The fake engine, translating known phrases (case-insensitive) and keeping every other word."""

    def translate(self, source: str) -> str:
        out = source
        for en, zh in sorted(PHRASES.items(), key=lambda kv: -len(kv[0])):
            out = re.sub(re.escape(en), zh, out, flags=re.IGNORECASE)
        return out


def _pipeline(engine: FakeEngine, base: protect.Glossary | None = BASE, **settings: Any) -> Pipeline:
    s = TranslateSettings(**settings)
    pipeline = Pipeline(engine, s)
    pipeline.terminology = Terminology(engine, s, base=base)
    return pipeline


def _terms(result: Any) -> dict[str, dict[str, Any]]:
    return {t["term"]: t for t in result.terminology}


def _term_requests(engine: FakeEngine) -> list[str]:
    return [r.source for r in engine.requests if r.source in TERMS]


async def test_layers_user_then_term_base_then_model() -> None:
    engine = PhraseEngine()
    result = await _pipeline(engine, term_post_edit=False).translate(DOC, glossary=USER)
    terms = _terms(result)
    assert (terms["policy"]["translation"], terms["policy"]["source"]) == ("方针", "user")  # over the base's 策略
    assert (terms["value function"]["translation"], terms["value function"]["source"]) == ("价值函数", "term_base")
    assert (terms["agent"]["translation"], terms["agent"]["source"]) == ("智能体", "term_base")
    assert (terms["replay memory"]["translation"], terms["replay memory"]["source"]) == ("回放记忆", "model")
    sac = terms["soft actor critic"]
    assert (sac["translation"], sac["source"], sac["acronym"]) == ("柔性行动者评论家", "model", "SAC")
    # one request per term no layer covered, and only those
    assert sorted(_term_requests(engine)) == ["replay memory", "soft actor critic"]
    assert result.stats["terminology_requests"] == 2
    assert result.glossary_version == USER.version  # the memory stays keyed by the request's glossary


async def test_consistency_on_a_known_case() -> None:
    result = await _pipeline(PhraseEngine(), term_post_edit=False).translate(DOC, glossary=USER)
    terms = _terms(result)
    counts = {t: (terms[t]["occurrences"], terms[t]["consistent"]) for t in terms}
    assert counts["value function"] == (4, 4)
    assert counts["replay memory"] == (3, 2)  # "replay memory is large" came back as 经验池很大
    assert counts["policy"] == (1, 0)  # the fake wrote 策略, the user's term is 方针
    assert counts["agent"] == (1, 0)  # kept in English by the fake
    assert counts["soft actor critic"] == (1, 1)
    assert result.stats["term_consistency"] == round(7 / 10, 4)  # pooled over every term with a translation


async def test_post_edit_puts_the_chosen_term_where_the_model_wrote_its_own_or_copied_the_english() -> None:
    engine = PhraseEngine()
    result = await _pipeline(engine).translate(DOC, glossary=USER)
    terms = _terms(result)
    # one more request per glossary or term-base term: the model's own rendering (policy: 策略, against the user's 方针)
    assert sorted(_term_requests(engine)) == ["agent", "policy", "replay memory", "soft actor critic", "value function"]
    assert result.stats["terminology_requests"] == 5
    counts = {t: (terms[t]["occurrences"], terms[t]["consistent"], terms[t]["edited"]) for t in terms}
    assert counts["policy"] == (1, 1, 1)  # 策略 -> 方针
    assert counts["agent"] == (1, 1, 1)  # the English copied -> 智能体
    assert counts["replay memory"] == (3, 2, 0)  # 经验池很大 is no rendering the step knows
    assert counts["value function"] == (4, 4, 0)
    assert result.stats["term_consistency"] == round(9 / 10, 4)
    by_id = {s.id: s for s in result.segments}
    first = next(s for s in result.segments if "guides the policy" in s.source)
    assert "方针" in first.translation and "智能体" in first.translation and "方针" in result.markdown
    assert "策略" in by_id[first.id].output and "agent" in by_id[first.id].output  # the model's output is kept as is
    assert "glossary_term_missing" not in first.reasons


async def test_post_edit_leaves_reader_corrections_alone() -> None:
    pd = protect.protect(DOC)
    seg = next(s for s in pd.segments if "guides the policy" in s.text)

    async def memory(sources: list[str], version: str | None) -> dict[str, str]:
        return {seg.text: "代理学到一个价值函数。价值函数指导政策。"}

    result = await _pipeline(PhraseEngine()).translate(DOC, glossary=USER, memory=memory)
    kept = next(s for s in result.segments if s.id == seg.id)
    assert kept.status == "memory" and kept.translation == "代理学到一个价值函数。价值函数指导政策。"


async def test_term_base_off_leaves_its_terms_to_the_model() -> None:
    engine = PhraseEngine()
    result = await _pipeline(engine, term_base=False).translate(DOC)
    terms = _terms(result)
    assert terms["value function"]["source"] == "model" and terms["value function"]["translation"] == "价值函数"
    assert "agent" not in terms  # a single word: only a term base names it
    assert sorted(_term_requests(engine)) == ["replay memory", "soft actor critic", "value function"]


async def test_the_shipped_term_base_is_the_default_layer() -> None:
    engine = PhraseEngine()
    pipeline = Pipeline(engine, TranslateSettings())
    result = await pipeline.translate("The agent follows a policy in its environment and gets a reward.")
    terms = _terms(result)
    assert {t: terms[t]["translation"] for t in ("agent", "policy", "environment", "reward")} == {
        "agent": "智能体",
        "policy": "策略",
        "environment": "环境",
        "reward": "奖励",
    }
    assert all(t["source"] == "term_base" for t in terms.values())
    assert len(term_base()) > 200
    # no model translation needed: only the post-edit's requests for the model's own renderings, one per term
    assert result.stats["terminology_requests"] == 4


async def test_model_requests_are_bounded() -> None:
    engine = PhraseEngine()
    result = await _pipeline(engine, terminology_max_terms=1).translate(DOC)
    terms = _terms(result)
    assert _term_requests(engine) == ["replay memory"]  # the most frequent unknown term first
    assert result.stats["terminology_requests"] == 1
    assert (terms["soft actor critic"]["translation"], terms["soft actor critic"]["source"]) == (None, "none")
    assert terms["soft actor critic"]["consistent"] is None
    none = PhraseEngine()
    await _pipeline(none, terminology_max_terms=0).translate(DOC)
    assert _term_requests(none) == []


async def test_terminology_off_is_todays_pipeline() -> None:
    engine = PhraseEngine()
    result = await _pipeline(engine, terminology=False).translate(DOC)
    assert result.terminology == [] and result.stats["term_consistency"] is None
    assert _term_requests(engine) == [] and result.stats["terminology_requests"] == 0
    prompts: list[str] = []
    engine.source_of = lambda p: prompts.append(p) or item_of(p)  # type: ignore[func-returns-value]
    await _pipeline(engine, terminology=False).translate(DOC)
    assert not any("Glossary" in p for p in prompts)


async def test_the_document_glossary_reaches_the_prompts_of_its_segments() -> None:
    engine = PhraseEngine()
    prompts: list[str] = []
    engine.source_of = lambda p: prompts.append(p) or item_of(p)  # type: ignore[func-returns-value]
    await _pipeline(engine).translate(DOC, glossary=USER)
    segment_prompts = [p for p in prompts if item_of(p) not in TERMS]
    with_memory = [p for p in segment_prompts if "replay memory stores" in item_of(p)]
    assert with_memory and all("replay memory → 回放记忆" in p for p in with_memory)
    with_policy = [p for p in segment_prompts if "guides the policy" in item_of(p)]
    assert with_policy and "policy → 方针" in with_policy[0] and "策略" not in with_policy[0]
    without = [p for p in segment_prompts if "A good value function" in item_of(p)]
    assert without and "回放记忆" not in without[0] and "value function → 价值函数" in without[0]


async def test_a_term_answer_that_is_no_term_is_not_used() -> None:
    assert term_translation("回放记忆\n英文：more", "replay memory") == "回放记忆"
    assert term_translation("“回放记忆”。", "replay memory") == "回放记忆"
    assert term_translation("Q学习", "Q-learning") == "Q学习"
    assert term_translation("replay memory", "replay memory") is None  # no Chinese
    assert term_translation("回放 replay memory", "replay memory") is None  # the term left in English
    assert term_translation("回放记忆 buffer", "replay memory") is None  # a word that is not the term's
    assert term_translation("这是一段很长很长的解释而不是一个术语的翻译结果", "replay memory") is None
    assert term_translation("", "replay memory") is None


async def test_translate_response_reports_the_terminology(app_factory: Any) -> None:
    async with serve(app_factory(PhraseEngine())) as c:
        r = await c.post("/translate", json={"markdown": DOC, "glossary": [{"source": "policy", "target": "方针"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    terms = {t["term"]: t for t in body["terminology"]}
    fields = {"term", "translation", "source", "acronym", "occurrences", "consistent", "edited", "aliases"}
    assert set(terms["policy"]) == fields and terms["policy"]["aliases"] == ["策略"]  # the model's own, replaced
    assert terms["policy"]["source"] == "user" and terms["value function"]["source"] == "term_base"
    assert terms["replay memory"]["source"] == "model" and terms["replay memory"]["occurrences"] == 3
    assert 0.0 < body["stats"]["term_consistency"] < 1.0
    # replay memory and soft actor critic (the shipped base has value function, policy and agent), and the model's
    # own rendering of each glossary and term-base term for the post-edit
    known = [t for t in terms.values() if t["source"] in ("user", "term_base")]
    assert body["stats"]["terminology_requests"] == 2 + len(known)

