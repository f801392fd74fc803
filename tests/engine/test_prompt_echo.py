"""The prompts' own texts, fed back as translations of unrelated segments, are caught as ``prompt_echo``; the human
references of the corpus (tests/data) never are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans import protect
from papertrans.contract import prompts

UNRELATED = "The value $v$ of a state is the expected return $G$ when we start from it and follow the policy."


def _target_for(seg: protect.Segment, text: str) -> str:
    """``text`` with its placeholders renumbered onto ``seg``'s inventory (so only the echo can fail)."""
    keys = list(seg.placeholders)
    style = seg.style
    return style.token.sub(lambda m: keys[(int(m.group(1)) - 1) % len(keys)], text)


@pytest.mark.parametrize("shown", prompts.PROMPT_TEXTS, ids=lambda t: t.text[:12])
def test_every_prompt_text_fed_back_is_an_echo(shown: protect.PromptText) -> None:
    (seg,) = protect.protect(UNRELATED).segments
    output = _target_for(seg, shown.text.strip())
    report = protect.validate(seg, output, prompt_texts=prompts.PROMPT_TEXTS)
    assert "prompt_echo" in report.reasons and report.status == "fallback", (output, report.reasons)


def test_few_shot_targets_in_their_own_context_are_fine() -> None:
    src = "We minimize the loss $L$ over the parameters $w$."
    (seg,) = protect.protect(src).segments
    output = _target_for(seg, prompts.PROMPT_TEXTS[2].text)  # "我们在参数⟦2⟧上最小化损失⟦1⟧。"
    assert "我们在参数" in output
    assert "prompt_echo" not in protect.validate(seg, output, prompt_texts=prompts.PROMPT_TEXTS).reasons


def test_human_references_are_never_echoes(corpus_dir: Path) -> None:
    with open(corpus_dir / "d2l_en_zh.jsonl", encoding="utf-8") as fh:
        units = [json.loads(line) for line in fh if line.strip()]
    checked = 0
    for unit in units:
        pd = protect.protect(unit["en"])
        if not pd.segments:
            continue
        report = protect.validate(pd.segments[0], unit["zh"], prompt_texts=prompts.PROMPT_TEXTS)
        assert "prompt_echo" not in report.reasons, (unit["id"], report.details)
        checked += 1
    assert checked > 100
