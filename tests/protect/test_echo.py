"""Copied text: prompt text echoed into a translation (hard ``prompt_echo``) and English sentences copied from the
source (soft ``untranslated_sentences``)."""

from __future__ import annotations

from papertrans import protect

from ._helpers import P

EXAMPLE = protect.PromptText(
    P("如⟦1⟧所示，在实践中，我们很少从头开始训练这样的网络。"),
    warrant="In practice, we rarely train such networks from scratch, as shown in {1}.",
)
EXAMPLE_2 = protect.PromptText(P("我们在参数⟦2⟧上最小化损失⟦1⟧。"), warrant="We minimize the loss {1} over the parameters {2}.")
INSTRUCTION = protect.PromptText(P("把英文翻译成中文。⟦1⟧、⟦2⟧ 这样的标记必须原样保留，每个只出现一次。"))
TEXTS = (EXAMPLE, EXAMPLE_2, INSTRUCTION)


def _seg(source: str) -> protect.Segment:
    (seg,) = protect.protect(source).segments
    return seg


def _reasons(source: str, output: str) -> list[str]:
    seg = _seg(source)
    return protect.validate(seg, P(output), prompt_texts=TEXTS).reasons


def test_an_example_sentence_in_an_unrelated_segment_is_an_echo() -> None:
    # the demo's summary line: an example's clause glued to a translation
    src = "The attention weights $w$ are computed from the scores $s$."
    out = "注意力权重⟦1⟧，在实践中，我们很少从头开始训练这样的网络⟦2⟧。"
    assert "prompt_echo" in _reasons(src, out)
    assert "prompt_echo" in protect.HARD_REASONS
    assert protect.validate(_seg(src), P(out), prompt_texts=TEXTS).status == "fallback"


def test_an_example_fragment_with_its_placeholder_is_an_echo() -> None:
    assert "prompt_echo" in _reasons("The value $v$ of a state is defined over actions $a$.", "在参数⟦2⟧上最小化的值⟦1⟧。")


def test_an_instruction_copied_is_an_echo() -> None:
    out = "⟦1⟧这样的标记必须原样保留，每个只出现一次。⟦2⟧"
    assert "prompt_echo" in _reasons("We compare $a$ with $b$ below.", out)


def test_the_same_sentence_in_the_source_warrants_the_example_translation() -> None:
    src = "In practice, we rarely train such networks from scratch, as shown in :numref:`fig_x`."
    assert "prompt_echo" not in _reasons(src, "如⟦1⟧所示，在实践中，我们很少从头开始训练这样的网络。")


def test_short_common_phrases_are_not_echoes() -> None:
    # "如⟦1⟧所示" (as shown in) and "在实践中" (in practice) belong to any translation
    src = "As shown in :numref:`fig_y`, in practice the loss goes down quickly."
    assert _reasons(src, "如⟦1⟧所示，在实践中损失下降得很快。") == []


def test_without_prompt_texts_nothing_is_checked() -> None:
    seg = _seg("The value $v$ of a state is defined over actions $a$.")
    assert "prompt_echo" not in protect.validate(seg, P("在参数⟦2⟧上最小化的值⟦1⟧。")).reasons


def test_english_copied_from_the_source_is_untranslated() -> None:
    src = (
        "SageMaker provides multiple instance types with varying computational power and prices. "
        "With one Tesla V100 GPU and an 8-core CPU, this instance is powerful enough for most of the book."
    )
    out = "SageMaker提供多种实例类型。with one Tesla V100 GPU and an 8-core CPU, this instance is powerful enough for most"
    reasons = _reasons(src, out)
    assert "untranslated_sentences" in reasons and "untranslated_sentences" in protect.RETRY_REASONS
    assert "untranslated_sentences" in protect.SOFT_REASONS and "prompt_echo" not in reasons
    good = "SageMaker提供多种计算能力和价格各异的实例类型。这个实例有一个Tesla V100 GPU和一个8核CPU，足以运行本书的大部分内容。"
    assert "untranslated_sentences" not in _reasons(src, good)


def test_names_and_short_english_terms_are_not_untranslated_sentences() -> None:
    src = "We train a ResNet with the Adam optimizer on ImageNet for ninety epochs."
    assert "untranslated_sentences" not in _reasons(src, "我们用Adam optimizer在ImageNet上训练ResNet九十个epoch。")
