"""The promotion decision on known outputs: a real gain is promoted, noise and regressions are refused."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from papertrans.rl.decision import SideCounts, decide, paired_bootstrap

REFS = [
    "我们在训练集上训练模型，并在验证集上评估它。",
    "注意力机制让模型专注于相关的词元。",
    "梯度下降沿着损失函数的负梯度方向更新参数。",
    "卷积神经网络在图像识别任务上表现良好。",
    "我们使用随机梯度下降来优化目标函数。",
    "这个向量的每个元素都是一个概率。",
    "矩阵乘法是深度学习中最常见的运算。",
    "学习率决定了每一步更新的大小。",
    "批量归一化可以加快训练的收敛速度。",
    "循环神经网络可以处理任意长度的序列。",
    "词嵌入把每个词映射成一个稠密向量。",
    "过拟合意味着模型在训练数据上表现好而在新数据上表现差。",
] * 3  # 36 rows, about a night's held-out slice


def _damage(text: str, rng: random.Random, share: float) -> str:
    """Drop a share of the characters: a worse translation of the same sentence."""
    return "".join(ch for ch in text if rng.random() > share) or text[:1]


def _outputs(share: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_damage(r, rng, share) for r in REFS]


def test_a_clear_gain_is_promoted_and_the_report_shows_both_intervals() -> None:
    baseline = _outputs(0.5, 1)
    candidate = _outputs(0.15, 2)
    new = paired_bootstrap("mldocs", candidate, baseline, REFS)
    old_base = _outputs(0.3, 3)
    old = paired_bootstrap("d2l", old_base, old_base, REFS)
    assert new.candidate > new.baseline and new.low > 0 and new.low <= new.delta <= new.high
    assert old.delta == 0 and old.low == 0 == old.high
    verdict = decide(new, old)
    assert verdict.promote and verdict.reasons == []
    lines = verdict.lines()
    assert lines[0].startswith("mldocs: chrF") and "[+" in lines[0] and lines[1].startswith("d2l: chrF")
    assert lines[-1].startswith("PROMOTE")


def test_a_noise_night_is_refused() -> None:
    """Candidate and baseline of equal quality (different random damage): the interval straddles zero."""
    for seed in range(10, 16):  # some of these nights score above the baseline by a few points: still noise
        new = paired_bootstrap("mldocs", _outputs(0.3, seed + 1), _outputs(0.3, seed), REFS)
        assert new.low < 0 < new.high
        verdict = decide(new, None)
        assert not verdict.promote
        assert [r.split(":")[0] for r in verdict.reasons] == ["no_gain_beyond_noise[mldocs]"]


def test_a_gain_that_forgets_the_old_domain_is_refused() -> None:
    new = paired_bootstrap("mldocs", _outputs(0.1, 1), _outputs(0.5, 2), REFS)
    old = paired_bootstrap("d2l", _outputs(0.6, 3), _outputs(0.2, 4), REFS)
    assert old.delta < -1
    verdict = decide(new, old, old_tolerance=1.0)
    assert not verdict.promote and [r.split(":")[0] for r in verdict.reasons] == ["old_domain_regressed[d2l]"]
    assert decide(new, old, old_tolerance=100.0).promote  # the tolerance is what decides


def test_more_fallbacks_as_served_are_refused_even_with_a_gain() -> None:
    new = paired_bootstrap(
        "mldocs",
        _outputs(0.1, 1),
        _outputs(0.5, 2),
        REFS,
        candidate_counts=SideCounts(36, 2, 0),
        baseline_counts=SideCounts(36, 1, 3),
    )
    verdict = decide(new, None)
    assert not verdict.promote and verdict.reasons[0].startswith("fallbacks_regressed[mldocs]: 2 > 1")


def test_no_heldout_rows_is_a_refusal_and_the_bootstrap_is_seeded() -> None:
    assert decide(None, None).reasons[0].startswith("no_heldout_rows")
    a = paired_bootstrap("x", _outputs(0.2, 1), _outputs(0.3, 2), REFS, seed=7)
    b = paired_bootstrap("x", _outputs(0.2, 1), _outputs(0.3, 2), REFS, seed=7)
    assert (a.low, a.high) == (b.low, b.high)
    with pytest.raises(ValueError, match="one candidate and one baseline"):
        paired_bootstrap("x", ["a"], [], ["b"])


def test_held_out_units_from_parallel_text_and_exported_corrections(tmp_path: Path) -> None:
    from papertrans.rl.datasets import DataError, write_rows
    from papertrans.rl.nightly import held_out_sets
    from papertrans.rl.served_gate import eval_units, words

    rows = [
        {"id": "u1", "en": "The model $x$ works.", "zh": "模型 $x$ 有效。"},
        {
            "prompt": "p",
            "reference": "⟦1⟧",
            "meta": {
                "translation_id": "t",
                "segment_id": "s0",
                "source_text": "See $y$.",
                "reference_text": "见 $y$。",
            },
        },
        {"prompt": "p", "reference": "masked only"},  # an export row without the reader's text: not usable here
    ]
    assert [(u.id, u.en, u.zh) for u in eval_units(rows)] == [
        ("u1", "The model $x$ works.", "模型 $x$ 有效。"),
        ("t:s0", "See $y$.", "见 $y$。"),
    ]
    assert words("The **model** $x$ uses `code` and [a link](http://x).") == "The model uses and a link ."
    masked_only = tmp_path / "eval.jsonl"
    write_rows(masked_only, [rows[2]])
    assert held_out_sets(masked_only, None, max_rows=None, regression_rows=None) == ([], [])  # a small night
    with pytest.raises(DataError, match="empty_eval"):  # but an --eval file the gate cannot use is an error
        held_out_sets(masked_only, None, max_rows=None, regression_rows=None, explicit=True)
