"""Parallel text as SFT rows (``train --method sft`` on ``{en, zh}`` / ``{source, target}``), and the gate's per-side
prompts: what is trained is what the server sends to that adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans import protect
from papertrans.contract.prompts import FEWSHOT, ZEROSHOT, build_prompt, prompt_style_of
from papertrans.rl.corpus import is_parallel, load_glossary, parallel_rows, side_prompts
from papertrans.rl.datasets import DataError, load_rows

UNIT = {
    "id": "t-1",
    "en": "We minimize $L(w)$ with `sgd` as in :numref:`sec_x`.\n\nThe attention weights $a_t$ sum to one.",
    "zh": "如 :numref:`sec_x` 所示，我们用 `sgd` 最小化 $L(w)$。\n\n注意力权重 $a_t$ 之和为一。",
}


class _Base:
    def has_chat_template(self) -> bool:
        return False

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        raise AssertionError("not a chat model")


def test_units_become_zero_shot_rows_with_masked_targets() -> None:
    glossary = protect.Glossary.from_pairs([("attention", "注意力")])
    rows, report = parallel_rows([UNIT], style=ZEROSHOT, glossary=glossary)
    assert report.rows == 2 and report.units_used == 1
    first, second = rows
    # the prompt the server builds for an adapter served zero-shot, for this masked segment
    expected, _ = build_prompt(_Base(), first["source"], glossary_entries=[], style=ZEROSHOT)
    assert first["prompt"] == expected and prompt_style_of(first["prompt"]) == ZEROSHOT
    assert first["completion"] == first["reference"] + "\n\n"  # the server cuts an answer at a blank line
    assert "$" not in first["completion"] and all(p in first["completion"] for p in first["placeholders"])
    assert "attention = 注意力" in second["prompt"] and "英文：" in second["prompt"]


def test_source_target_columns_and_skip_counts() -> None:
    shifted = {"source": UNIT["en"], "target": UNIT["zh"].replace("$a_t$", "$b_t$")}  # second pair: other span
    one_block = {"en": UNIT["en"], "zh": UNIT["zh"].replace("\n\n", "")}  # segment counts differ
    assert is_parallel([shifted, one_block]) and not is_parallel([{"prompt": "x", "en": "a", "zh": "b"}])
    rows, report = parallel_rows([shifted, one_block], style=ZEROSHOT)
    assert len(rows) == 1
    assert report.units_skipped_segment_count == 1 and report.segments_skipped_misaligned == 1
    with pytest.raises(DataError):
        parallel_rows([{"en": "only one side"}], style=ZEROSHOT)


def test_glossary_spec_and_side_prompts() -> None:
    glossary = load_glossary("attention=注意力, token=词元")
    assert glossary is not None and [e.target for e in glossary.find("attention to a token")] == ["注意力", "词元"]
    rows, _ = parallel_rows([UNIT], style=None, glossary=glossary)
    assert all(prompt_style_of(r["prompt"]) == FEWSHOT for r in rows)
    assert side_prompts(rows, None) == [r["prompt"] for r in rows]
    zero = side_prompts(rows, ZEROSHOT)
    assert all(prompt_style_of(p) == ZEROSHOT for p in zero) and "attention = 注意力" in zero[1]


def test_corpus_sample_aligns_most_units(corpus_dir: Path) -> None:
    """The suite's sample of the d2l training corpus: every unit is accounted for, and the pair filter keeps most."""
    units = load_rows(corpus_dir / "d2l_en_zh.jsonl")
    rows, report = parallel_rows(units, style=ZEROSHOT)
    assert report.units == len(units)
    assert report.units_used + report.units_skipped_segment_count + report.units_skipped_no_pair == report.units
    assert report.units_used >= 0.9 * report.units and len(rows) == report.rows >= report.units_used
