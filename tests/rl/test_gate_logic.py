"""The gate's metrics, decision and plots, on hand-made outputs (no model)."""

from __future__ import annotations

from pathlib import Path

from papertrans.rl.gate import compare, evaluate_outputs, plot_curves

ROWS = [
    {"prompt": "p1", "reference": "注意力机制 ⟦1⟧ 让模型专注。", "placeholders": ["⟦1⟧"], "glossary": [["attention", "注意力"]]},
    {"prompt": "p2", "reference": "我们训练模型。", "placeholders": [], "glossary": []},
]


def test_metrics_and_decision() -> None:
    good = evaluate_outputs(ROWS, ["注意力机制 ⟦1⟧ 让模型专注。", "我们训练模型。"])
    broken = evaluate_outputs(ROWS, ["注意力机制让模型专注。", "我们训练模型。"])
    assert good.integrity == 1.0 and good.fallback_rate == 0.0 and good.chrf > 99 and good.glossary_adherence == 1.0
    assert broken.integrity == 0.5 and broken.fallback_rate == 0.5
    ok, reasons = compare(good, good)
    assert ok and reasons == []
    ok, reasons = compare(broken, good)
    assert not ok and {"integrity_regressed", "fallbacks_regressed"} <= {r.split(":")[0] for r in reasons}
    worse = evaluate_outputs(ROWS, ["注意力 ⟦1⟧。", "训练。"])
    assert not compare(worse, good, chrf_tolerance=1.0)[0]
    assert compare(worse, good, chrf_tolerance=100.0)[0]


def test_plots_written_for_dpo_curves(tmp_path: Path) -> None:
    history = [{"step": i, "loss": 0.7 - i / 10, "rewards/chosen": i / 10, "rewards/rejected": -i / 10,
                "rewards/margins": i / 5, "rewards/accuracies": 1.0} for i in range(1, 4)]
    names = plot_curves(history, tmp_path)
    assert set(names) == {"loss.png", "rewards_chosen.png", "rewards_rejected.png", "rewards_margins.png",
                          "rewards_accuracies.png"}
    assert all((tmp_path / n).read_bytes().startswith(b"\x89PNG") for n in names)
