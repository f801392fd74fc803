"""Prompt building and output cleaning with a stand-in tokenizer (no model)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from papertrans import protect
from papertrans.contract.prompts import PROMPT_TEMPLATE_VERSION, build_prompt, clean_output, style_of


class BaseTok:
    """A tokenizer without a chat template (like the embedded base model)."""

    def has_chat_template(self) -> bool:
        return False

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        raise AssertionError("a base model has no chat template")


class ChatTok(BaseTok):
    def __init__(self) -> None:
        self.seen: list[list[dict[str, str]]] = []

    def has_chat_template(self) -> bool:
        return True

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        self.seen.append(messages)
        return "<user>" + messages[-1]["content"] + "<assistant>"


@dataclass
class Entry:
    source: str
    target: str
    case_sensitive: bool = False


def test_fewshot_prompt_ends_with_the_item_and_stops_before_the_next_example() -> None:
    prompt, stop = build_prompt(BaseTok(), "We train the model ⟦1⟧ on ⟦2⟧.")
    assert prompt.endswith("英文：We train the model ⟦1⟧ on ⟦2⟧.\n中文：")
    assert prompt.count("英文：") == 4  # three short examples + the item
    assert "\n\n" in stop and "\n英文：" in stop
    # no stop sequence occurs inside the examples' answers, or generation would stop early
    answers = [block.split("中文：", 1)[1] for block in prompt.split("\n\n")[:-1]]
    assert all(s.strip() not in a for s in stop if s.strip() for a in answers)
    assert PROMPT_TEMPLATE_VERSION


@pytest.mark.parametrize(
    ("text", "form"),
    [("see ⟦3⟧", "⟦1⟧"), ("see <m3>", "<m1>"), ("see [M3]", "[M1]"), ("plain text", protect.DEFAULT_STYLE.make(1))],
)
def test_examples_use_the_items_placeholder_form(text: str, form: str) -> None:
    assert style_of(text)(1) == form
    prompt, _ = build_prompt(BaseTok(), text)
    assert form in prompt.split("\n\n")[0]


def test_glossary_terms_are_written_inline_after_the_term() -> None:
    prompt, _ = build_prompt(
        BaseTok(),
        "The Attention mechanism uses attention weights and a self-attention layer.",
        glossary_entries=[Entry("attention", "注意力"), ("layer", "层")],
    )
    item = prompt.rsplit("\n\n", 1)[-1]
    assert item.startswith("英文：The Attention (注意力) mechanism uses attention weights")  # first occurrence only
    assert "layer (层)" in item
    assert "注意力" not in prompt.rsplit("\n\n", 1)[0]  # not leaked into the examples


def test_strict_prompt_adds_the_instruction_and_blank_lines_do_not_break_stops() -> None:
    relaxed, _ = build_prompt(BaseTok(), "a ⟦1⟧\n\nb")
    strict, _ = build_prompt(BaseTok(), "a ⟦1⟧\n\nb", strict=True)
    assert strict.endswith(relaxed.rsplit("\n\n", 1)[-1]) and len(strict) > len(relaxed)
    assert "原样保留" in strict and "原样保留" not in relaxed
    assert relaxed.endswith("英文：a ⟦1⟧\nb\n中文：")


def test_chat_template_prompt_carries_context_title_section_and_glossary() -> None:
    tok = ChatTok()
    prompt, stop = build_prompt(
        tok,
        "Scores ⟦1⟧ are normalised.",
        context=["The previous paragraph."],
        title="Attention Scoring Functions",
        heading_path=["Attention", "Scaled Dot Product"],
        glossary_entries=[Entry("score", "评分")],
        strict=True,
    )
    content = tok.seen[0][0]["content"]
    assert prompt.startswith("<user>") and stop == []
    for part in (
        "Attention Scoring Functions",
        "Attention > Scaled Dot Product",
        "The previous paragraph.",
        "score → 评分",
        "Scores ⟦1⟧ are normalised.",
        "exactly once: ⟦1⟧",
    ):
        assert part in content


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (" 注意力机制让模型专注于相关令牌。 ", "注意力机制让模型专注于相关令牌。"),
        ("中文：我们训练⟦1⟧。", "我们训练⟦1⟧。"),
        ("我们训练⟦1⟧。\n英文：Next example", "我们训练⟦1⟧。"),
        ("注意力（注意力）机制", "注意力机制"),
        ("注意力 (注意力) 机制", "注意力 机制"),
        ("第一行\n第二行", "第一行\n第二行"),
        ("", ""),
    ],
)
def test_clean_output(raw: str, clean: str) -> None:
    assert clean_output(raw) == clean


def test_strict_chat_prompt_names_the_markers_to_keep() -> None:
    tok = ChatTok()
    prompt, _ = build_prompt(tok, "Minimise {{1}} over {{2}}.", strict=True)
    instruction = tok.seen[-1][-1]["content"]
    assert "exactly once: {{1}} {{2}}." in instruction and prompt.startswith("<user>")


def test_zero_shot_prompt_is_instruction_glossary_text() -> None:
    from papertrans.contract.prompts import FEWSHOT, ZEROSHOT, prompt_style_of

    prompt, stop = build_prompt(BaseTok(), "The attention ⟦1⟧ layer.\n\nNext line.",
                                glossary_entries=[("attention", "注意力")], style=ZEROSHOT)
    assert prompt == (
        "把英文翻译成中文，⟦1⟧ 这样的标记原样保留。\n术语：attention = 注意力\n"
        "英文：The attention ⟦1⟧ layer.\nNext line.\n中文："
    )
    assert "\n\n" in stop and prompt_style_of(prompt) == ZEROSHOT
    fewshot, _ = build_prompt(BaseTok(), "The attention ⟦1⟧ layer.", style=None)
    assert prompt_style_of(fewshot) == FEWSHOT and len(fewshot) > 2 * len(prompt)
    with pytest.raises(ValueError):
        build_prompt(BaseTok(), "x", style="poetry")
