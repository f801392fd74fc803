"""Parallel-corpus rows (``rl.corpus.parallel_rows``): segments pair up only when they correspond, references carry
the English placeholders, and every unit is accounted for."""

from __future__ import annotations

from pathlib import Path

from papertrans import protect
from papertrans.rl.corpus import parallel_rows
from papertrans.rl.datasets import load_rows, reward_columns
from papertrans.rl.rewards import placeholder_errors

UNIT = {
    "id": "t-1",
    "en": "We minimize $L(w)$ with `sgd` as in :numref:`sec_x`.\n\nThe attention weights $a_t$ sum to one.",
    "zh": "如 :numref:`sec_x` 所示，我们用 `sgd` 最小化 $L(w)$。\n\n注意力权重 $a_t$ 之和为一。",
}


def _accounted(report: dict[str, int]) -> bool:
    """Every unit is used or skipped for one stated reason."""
    skipped = report["units_skipped_segment_count"] + report["units_skipped_no_pair"]
    return report["units_used"] + skipped == report["units"]


def test_reference_gets_the_english_placeholders_in_chinese_order() -> None:
    glossary = protect.Glossary.from_pairs([("attention", "注意力")])
    rows, report = parallel_rows([UNIT], style=None, glossary=glossary)
    assert len(rows) == 2 and report.rows == 2 and report.units_used == 1
    first, second = rows
    # The Chinese reorders the spans; renamed by content, the reference is a perfect translation of the segment.
    assert placeholder_errors(first["reference"], reward_columns(first)["placeholders"]) == 0
    assert first["reference"].index(first["placeholders"][2]) < first["reference"].index(first["placeholders"][0])
    assert "$" not in first["reference"] and "`" not in first["reference"]
    assert first["completion"] == first["reference"] + "\n\n"  # the server cuts an answer at a blank line
    assert second["glossary"] == [["attention", "注意力"]]
    assert "注意力" in second["prompt"] and second["prompt"].endswith("中文：")


def test_units_that_do_not_correspond_are_skipped() -> None:
    other_span = {**UNIT, "zh": UNIT["zh"].replace("$a_t$", "$b_t$")}
    rows, report = parallel_rows([other_span], style=None)
    assert len(rows) == 1 and report.segments_skipped_misaligned == 1  # the second pair protects different spans
    one_block = {**UNIT, "zh": UNIT["zh"].replace("\n\n", "")}
    rows, report = parallel_rows([one_block], style=None)
    assert rows == [] and report.units_skipped_segment_count == 1  # segment counts differ
    assert _accounted(report.as_dict())


def test_dev_corpus_rows_are_per_unit_stable_and_accounted_for(corpus_dir: Path) -> None:
    units = load_rows(corpus_dir / "d2l_en_zh.jsonl")
    rows, report = parallel_rows(units, style=None)
    assert report.units == len(units) and _accounted(report.as_dict()) and report.rows == len(rows)
    assert rows and all(placeholder_errors(r["reference"], r["placeholders"]) == 0 for r in rows)
    assert parallel_rows(units, style=None)[0] == rows  # a rerun agrees
    # Rows depend on their own unit only: any split of the units into train/held-out splits the rows the same way,
    # and no document lands on both sides.
    half = len(units) // 2
    train, _ = parallel_rows(units[:half], style=None)
    held, _ = parallel_rows(units[half:], style=None)
    assert train + held == rows
    assert not {r["meta"]["doc_hash"] for r in train} & {r["meta"]["doc_hash"] for r in held}
