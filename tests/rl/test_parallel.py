"""Parallel-corpus rows: segments pair up only when they correspond, references carry the English placeholders."""

from __future__ import annotations

from pathlib import Path

from papertrans import protect
from papertrans.rl.datasets import load_rows, reward_columns
from papertrans.rl.parallel import rows_from_parallel, split_units
from papertrans.rl.rewards import placeholder_errors

UNIT = {
    "id": "t-1",
    "en": "We minimize $L(w)$ with `sgd` as in :numref:`sec_x`.\n\nThe attention weights $a_t$ sum to one.",
    "zh": "如 :numref:`sec_x` 所示，我们用 `sgd` 最小化 $L(w)$。\n\n注意力权重 $a_t$ 之和为一。",
}


def test_reference_gets_the_english_placeholders_in_chinese_order() -> None:
    glossary = protect.Glossary.from_pairs([("attention", "注意力")])
    rows = rows_from_parallel([UNIT], glossary=glossary)
    assert len(rows) == 2
    first, second = rows
    # The Chinese reorders the spans; renamed by content, the reference is a perfect translation of the segment.
    assert placeholder_errors(first["reference"], reward_columns(first)["placeholders"]) == 0
    assert first["reference"].index(first["placeholders"][2]) < first["reference"].index(first["placeholders"][0])
    assert "$" not in first["reference"] and "`" not in first["reference"]
    assert second["glossary"] == [["attention", "注意力"]]
    assert "注意力" in second["prompt"] and second["prompt"].endswith("中文：")


def test_units_that_do_not_correspond_are_skipped() -> None:
    other_span = {**UNIT, "zh": UNIT["zh"].replace("$a_t$", "$b_t$")}
    assert len(rows_from_parallel([other_span])) == 1  # the second pair protects different spans
    one_block = {**UNIT, "zh": UNIT["zh"].replace("\n\n", "")}
    assert rows_from_parallel([one_block]) == []  # segment counts differ


def test_dev_corpus_split_is_stable_and_disjoint(dev_data: Path) -> None:
    units = load_rows(dev_data / "d2l_en_zh.jsonl")
    train, held = split_units(units, eval_percent=50)
    assert (train, held) == split_units(units, eval_percent=50)
    assert not {u["id"] for u in train} & {u["id"] for u in held}
    rows = rows_from_parallel(held)
    assert len(rows) > 20
    assert all(placeholder_errors(r["reference"], r["placeholders"]) == 0 for r in rows)
