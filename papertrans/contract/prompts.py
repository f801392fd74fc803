"""Prompts for one translation item, and cleaning of the model's raw output: what serving and training share.

The server builds every prompt here and cleans every answer here; rl builds its training rows and the gate's prompts
here too, so what is trained and gated is what is served. Two styles, chosen by the tokenizer:

* **chat** (instruct models with a chat template): one user turn with the instruction, the paper's title and section,
  the preceding paragraph(s) as read-only context, the glossary, and the text.
* **few-shot completion** (base models such as the embedded Gemma 3 270M): a few short ``英文：…/中文：…`` pairs, then
  the item, cut by stop sequences. Measured on the embedded model (docs/engine.md): Chinese labels gave more Chinese
  output than English ones; instructions and context paragraphs did not help a 270M base model and cost prompt tokens
  on CPU, so they are left out; glossary terms work best written inline right after the English term
  (``attention (注意力)``), where the model copies them, rather than in a list before the text.

The few-shot examples use the same placeholder form as the item (``⟦1⟧``, ``<m1>``, ...), so they teach the model to
copy whatever form ``protect`` chose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from papertrans import protect

__all__ = [
    "FEWSHOT",
    "PROMPT_STYLES",
    "PROMPT_TEXTS",
    "PROMPT_TEMPLATE_VERSION",
    "ZEROSHOT",
    "CompletionOnly",
    "GlossaryLike",
    "PromptModel",
    "build_prompt",
    "clean_output",
    "completion_stops",
    "one_item",
    "prompt_style_of",
    "style_of",
    "template_version",
]

#: The version of the ``fewshot`` prompt (the base model's); each style has its own, :func:`template_version`.
PROMPT_TEMPLATE_VERSION = "fewshot-zh-inline-glossary-1/chat-1"

#: Prompt styles for base models without a chat template. ``fewshot`` serves the raw base model; ``zeroshot`` is the
#: compact prompt adapters are trained and served with (instruction + glossary + text: a third of the tokens, and no
#: example sentences to echo). An adapter's metadata names its style; the server builds its prompts with it.
FEWSHOT, ZEROSHOT = "fewshot", "zeroshot"
PROMPT_STYLES = (FEWSHOT, ZEROSHOT)
_VERSIONS = {FEWSHOT: PROMPT_TEMPLATE_VERSION, ZEROSHOT: "zeroshot-zh-glossary-1/chat-1"}

_SRC, _TGT = "英文：", "中文："
# {n} marks a placeholder in the examples; it is rendered in the item's placeholder form.
_SHOTS: tuple[tuple[str, str], ...] = (
    ("The {1} layer maps {2} to outputs.", "{1}层将{2}映射到输出。"),
    (
        "In practice, we rarely train such networks from scratch, as shown in {1}.",
        "如{1}所示，在实践中，我们很少从头开始训练这样的网络。",
    ),
    ("We minimize the loss {1} over the parameters {2}.", "我们在参数{2}上最小化损失{1}。"),
)
_STRICT_HEAD = "把英文翻译成中文。{1}、{2} 这样的标记必须原样保留，每个只出现一次。\n\n"
_ZERO_HEAD = "把英文翻译成中文，{1} 这样的标记原样保留。\n"
_ZERO_GLOSSARY = "术语："
_STOP = ["\n\n", f"\n{_SRC}", f"\n{_TGT}", "\nEnglish:", "\nChinese:"]

_CHAT_INSTRUCTION = (
    "Translate the English text from an academic paper into fluent Simplified Chinese. "
    "Markers such as {1} stand for formulas, code, links or citations: copy every marker exactly once and unchanged. "
    "Keep Markdown emphasis. Output only the translation."
)
_CHAT_STRICT = (
    " Your previous answer lost or changed markers. This time check that each of these markers appears exactly once: "
)


class GlossaryLike(Protocol):
    """A glossary entry: ``protect.GlossaryEntry`` or anything with ``source`` / ``target``."""

    source: str
    target: str


class PromptModel(Protocol):
    """What :func:`build_prompt` asks of the model it builds for: a serving engine, or :class:`CompletionOnly`."""

    def has_chat_template(self) -> bool: ...

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str: ...


class CompletionOnly:
    """A base model without a chat template, where no engine or tokenizer is loaded (training rows, the gate's
    prompts): :func:`build_prompt` then builds the completion prompt of the style it is given."""

    def has_chat_template(self) -> bool:
        return False

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        raise TypeError("a model without a chat template has none to apply")


def style_of(text: str) -> Callable[[int], str]:
    """The placeholder maker matching the form used in ``text`` (protect's default form when it has none).

    Examples in any other form would teach the model a placeholder that the item does not use; it then copies it
    into prose (seen: a heading translated as "如⟦1⟧。").
    """
    return protect.find_style(text).make


def _render(template: str, make: Callable[[int], str]) -> str:
    return re.sub(r"\{(\d)\}", lambda m: make(int(m.group(1))), template)


#: What the prompts show besides the item, for validation's ``prompt_echo``: each example's translation (fine to
#: reproduce only when the item shares words with the example's source), each example's source, and the instructions.
PROMPT_TEXTS: tuple[protect.PromptText, ...] = (
    *(protect.PromptText(_render(tgt, protect.DEFAULT_STYLE.make), warrant=src) for src, tgt in _SHOTS),
    *(protect.PromptText(_render(src, protect.DEFAULT_STYLE.make), warrant=src) for src, _ in _SHOTS),
    *(
        protect.PromptText(_render(h, protect.DEFAULT_STYLE.make))
        for h in (_STRICT_HEAD, _ZERO_HEAD, _CHAT_INSTRUCTION)
    ),
)


def _entries(glossary_entries: Iterable[Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for e in glossary_entries:
        src, tgt = e if isinstance(e, tuple) else (e.source, e.target)
        if src and tgt and (src, tgt) not in out:
            out.append((str(src), str(tgt)))
    return out


def _annotate(text: str, entries: Sequence[tuple[str, str]]) -> str:
    """Write each glossary target after the first occurrence of its term: ``attention (注意力)``."""
    for src, tgt in sorted(entries, key=lambda e: -len(e[0])):
        pattern = re.compile(rf"(?<![\w(])({re.escape(src)})(?![\w)])", re.IGNORECASE)
        text = pattern.sub(r"\1 (" + tgt.replace("\\", r"\\") + ")", text, count=1)
    return text


def build_prompt(
    engine: PromptModel,
    item_text: str,
    *,
    context: Sequence[str] = (),
    title: str | None = None,
    heading_path: Sequence[str] = (),
    glossary_entries: Iterable[Any] = (),
    strict: bool = False,
    style: str | None = None,
) -> tuple[str, list[str]]:
    """The prompt for one item and its stop sequences.

    ``strict`` is the retry after a failed validation: it names the markers that must come back. ``style`` is one of
    :data:`PROMPT_STYLES` (``None`` = ``fewshot``, the base model's prompt); chat models always get the chat prompt.
    """
    entries = _entries(glossary_entries)
    make = style_of(item_text)
    if engine.has_chat_template():
        return _chat_prompt(engine, item_text, context, title, heading_path, entries, strict, make), []
    if style not in (None, *PROMPT_STYLES):
        raise ValueError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}")
    parts = [_render(_STRICT_HEAD, make)] if strict else []
    if style == ZEROSHOT:
        # The glossary as a list: an adapter learns to use it; inline hints would be copied into its answer.
        head = [] if strict else [_render(_ZERO_HEAD, make)]
        if entries:
            head.append(_ZERO_GLOSSARY + "；".join(f"{s} = {t}" for s, t in entries) + "\n")
        parts.extend(head)
        parts.append(f"{_SRC}{one_item(item_text)}\n{_TGT}")
        return "".join(parts), list(_STOP)
    for src, tgt in _SHOTS:
        parts.append(f"{_SRC}{_render(src, make)}\n{_TGT}{_render(tgt, make)}\n\n")
    parts.append(f"{_SRC}{one_item(_annotate(item_text.strip(), entries))}\n{_TGT}")
    return "".join(parts), list(_STOP)


def completion_stops() -> list[str]:
    """The stop sequences of every completion prompt (both styles): where a generated answer is cut."""
    return list(_STOP)


def one_item(text: str) -> str:
    """An item's text without the blank lines the stop sequences rely on (they become one newline); also what a
    training target must look like, since the model can never produce a blank line inside one answer."""
    return re.sub(r"\n\s*\n", "\n", text.strip())


def prompt_style_of(prompt: str) -> str | None:
    """The style a completion prompt was built with (``None`` for a chat prompt or an unknown text)."""
    labels = prompt.count(_SRC)
    if labels > 1:
        return FEWSHOT
    return ZEROSHOT if labels == 1 and prompt.rstrip().endswith(_TGT) else None


def template_version(style: str | None) -> str:
    """The template version recorded with a translation whose prompts were built with ``style`` (``None`` =
    ``fewshot``); the part after ``/`` is the chat prompt's version, which a model with a chat template gets instead."""
    if style not in (None, *PROMPT_STYLES):
        raise ValueError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}")
    return _VERSIONS[style or FEWSHOT]


def _chat_prompt(
    engine: PromptModel,
    text: str,
    context: Sequence[str],
    title: str | None,
    heading_path: Sequence[str],
    entries: Sequence[tuple[str, str]],
    strict: bool,
    make: Callable[[int], str],
) -> str:
    lines = [_render(_CHAT_INSTRUCTION, make)]
    if strict:
        markers = sorted({m.group(0) for style in protect.STYLES.values() for m in style.token.finditer(text)})
        lines[0] += _CHAT_STRICT + (" ".join(markers) if markers else "(none)") + "."
    if title:
        lines.append(f"Paper: {title}")
    if heading_path:
        lines.append("Section: " + " > ".join(heading_path))
    if context:
        lines.append("Preceding text (context only, do not translate):\n" + "\n".join(context))
    if entries:
        lines.append("Glossary (use these translations):\n" + "\n".join(f"{s} → {t}" for s, t in entries))
    lines.append(f"Text:\n{text}")
    return engine.apply_chat_template([{"role": "user", "content": "\n\n".join(lines)}])


_LABEL = re.compile(rf"^\s*(?:{_TGT}|Chinese:|Translation:|译文：)\s*")
_TAIL = re.compile(rf"\n\s*(?:{_SRC}|{_TGT}|English:|Chinese:).*\Z", re.DOTALL)
# "注意力（注意力）" / "注意力 (注意力)": the model echoing an inline glossary hint.
_ECHO = re.compile(r"(\S{1,24}?)\s*[（(]\s*\1\s*[）)]")


def clean_output(text: str) -> str:
    """The translation inside a raw completion: no label, no next example, no echoed glossary hint."""
    out = _LABEL.sub("", text)
    out = _TAIL.sub("", out)
    out = _ECHO.sub(r"\1", out)
    return out.strip()
