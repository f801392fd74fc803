"""Reward functions on hand-written examples."""

from __future__ import annotations

import json
import math

import httpx

from papertrans.rl import rewards

P = ["⟦M1⟧", "⟦C2⟧"]


def _one(fn, completion, **kw):  # type: ignore[no-untyped-def]
    return fn(["prompt"], [completion], **{k: [v] for k, v in kw.items()})[0]


def test_integrity_exact_missing_duplicated_invented() -> None:
    assert _one(rewards.placeholder_integrity, "公式 ⟦M1⟧ 和 ⟦C2⟧。", placeholders=P) == 1.0
    assert _one(rewards.placeholder_integrity, "公式 ⟦M1⟧。", placeholders=P) == 0.5
    assert _one(rewards.placeholder_integrity, "⟦M1⟧⟦M1⟧ ⟦C2⟧", placeholders=P) == 0.5
    assert _one(rewards.placeholder_integrity, "⟦M1⟧ ⟦C2⟧ ⟦M7⟧", placeholders=P) == 0.5
    assert _one(rewards.placeholder_integrity, "   ", placeholders=[]) == 0.0
    assert _one(rewards.placeholder_integrity, "没有占位符。", placeholders=[]) == 1.0


def test_broken_placeholder_outweighs_everything() -> None:
    kw = {"placeholders": [P, P], "reference": ["注意力 ⟦M1⟧ 和 ⟦C2⟧。"] * 2, "glossary": [[["attention", "注意力"]]] * 2}
    perfect_but_broken = "注意力 ⟦M1⟧ 和 。"
    poor_but_intact = "the attention ⟦M1⟧ ⟦C2⟧ the the the the the the"
    broken, intact = rewards.translation_reward(["p", "p"], [perfect_but_broken, poor_but_intact], **kw)
    assert broken < -1.0 <= 0.0 <= intact


def test_glossary_adherence() -> None:
    g = [["attention", "注意力"], ["token", "词元"]]
    assert _one(rewards.glossary_adherence, "注意力机制关注相关词元。", glossary=g) == 1.0
    assert _one(rewards.glossary_adherence, "关注机制关注相关令牌。", glossary=g) == 0.0
    assert _one(rewards.glossary_adherence, "注意力机制。", glossary=g) == 0.5
    assert math.isnan(_one(rewards.glossary_adherence, "任何", glossary=[]))


def test_length_ratio_band() -> None:
    src = "The attention mechanism lets the model focus on relevant tokens."
    assert _one(rewards.length_ratio, "注意力机制让模型专注于相关的词元。", source=src) == 1.0
    assert _one(rewards.length_ratio, "注意", source=src) == 0.0
    assert _one(rewards.length_ratio, "注意力" * 60, source=src) < 0.2
    assert _one(rewards.length_ratio, "注意力机制", reference="注意力机制。") == 1.0
    assert math.isnan(_one(rewards.length_ratio, "x"))


def test_target_script_penalizes_english() -> None:
    assert _one(rewards.target_script, "注意力机制让模型专注于相关的词元。") == 1.0
    assert _one(rewards.target_script, "使用 softmax 函数 ⟦M1⟧。", placeholders=["⟦M1⟧"]) == 1.0
    english = _one(rewards.target_script, "The attention mechanism lets the model focus on relevant tokens.")
    assert english == 0.0
    mixed = _one(rewards.target_script, "注意力机制让模型专注于相关的词元, the model focus on tokens now.")
    assert 0.0 < mixed < 1.0


def test_repetition_catches_loops() -> None:
    assert _one(rewards.repetition, "注意力机制让模型专注于相关的词元。") == 1.0
    assert _one(rewards.repetition, "的模型" * 40) < 0.1


def test_chrf_against_reference() -> None:
    ref = "注意力机制让模型专注于相关的词元。"
    assert _one(rewards.chrf, ref, reference=ref) == 1.0
    close = _one(rewards.chrf, "注意力机制让模型关注相关词元。", reference=ref)
    far = _one(rewards.chrf, "今天天气很好。", reference=ref)
    assert 0.0 <= far < close < 1.0
    assert math.isnan(_one(rewards.chrf, ref, reference=None))


def test_combined_prefers_reference_like_output() -> None:
    kw = {"placeholders": [[]] * 2, "reference": ["注意力机制让模型专注于相关的词元。"] * 2, "glossary": [[["attention", "注意力"]]] * 2}
    good, bad = rewards.translation_reward(["p", "p"], ["注意力机制让模型专注于相关的词元。", "关注的机制让模型专注于相关令牌。"], **kw)
    assert 0.0 <= bad < good <= 1.0


def test_judge_parses_scores() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"text": " 8 out of 10"}]})

    judge = rewards.make_judge("http://judge", model="m", transport=httpx.MockTransport(handler))
    assert judge(["p"], ["注意力"], source=["attention"]) == [0.8]
    assert "attention" in str(seen[0]["prompt"]) and seen[0]["model"] == "m"
    total = rewards.translation_reward(["p"], ["注意力"], judge=judge, source=["attention"], placeholders=[[]])
    assert 0.0 < total[0] <= 1.0
