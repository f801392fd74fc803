"""A deterministic stand-in for the vLLM engine, for fast tests and ``PAPERTRANS_MODEL=fake``.

It "translates" the item text of a prompt (found by ``source_of``) by a rule that keeps every placeholder: known words
are replaced from a small vocabulary and the result is prefixed with 译：. Options make it misbehave on purpose:
``break_when(source, attempt)`` returns an empty output (a hard validation failure) so retries and fallbacks can be
tested, ``delay`` makes every request slow (abort and hot-swap tests). It records requests and aborted requests.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from .protocol import AdapterRef, EngineError, Generation, SamplingOptions

__all__ = ["FakeEngine", "FakeRequest", "item_of"]

DEFAULT_VOCAB: dict[str, str] = {
    "attention": "关注",
    "mechanism": "机制",
    "model": "模型",
    "models": "模型",
    "the": "这",
    "lets": "让",
    "focus": "专注",
    "on": "于",
    "relevant": "相关",
    "tokens": "词元",
    "paper": "论文",
    "we": "我们",
    "and": "和",
    # function words: without them the fake copies long English runs, which validation reports as
    # untranslated_sentences (and the pipeline retries)
    "is": "是",
    "a": "一个",
    "as": "如",
    "by": "通过",
    "to": "到",
    "from": "从",
    "it": "它",
}

_WORD = re.compile(r"[A-Za-z]+")
# The fake's own chat template: the last user message sits between these markers.
_USER_OPEN, _USER_CLOSE = "<|user|>\n", "\n<|end|>"
# contract.prompts puts the item last: after "Text:" in a chat turn, after "英文：" in a few-shot completion prompt.
_CHAT_ITEM, _FEWSHOT_ITEM, _FEWSHOT_ANSWER = "Text:\n", "英文：", "\n中文："


def item_of(prompt: str) -> str:
    """The text to translate inside a prompt built by ``contract.prompts.build_prompt`` (the whole prompt otherwise)."""
    start = prompt.rfind(_USER_OPEN)
    if start >= 0:
        body = prompt[start + len(_USER_OPEN) :]
        end = body.find(_USER_CLOSE)
        body = body if end < 0 else body[:end]
        at = body.rfind(_CHAT_ITEM)
        return body[at + len(_CHAT_ITEM) :] if at >= 0 else body
    at = prompt.rfind(_FEWSHOT_ITEM)
    if at >= 0:
        return prompt[at + len(_FEWSHOT_ITEM) :].removesuffix(_FEWSHOT_ANSWER)
    return prompt


@dataclass
class FakeRequest:
    request_id: str
    source: str
    adapter: str | None


class FakeEngine:
    """Implements :class:`server.engine.Engine` without a model."""

    model_name = "fake"

    def __init__(
        self,
        *,
        vocab: dict[str, str] | None = None,
        delay: float = 0.0,
        break_when: Callable[[str, int], bool] | None = None,
        source_of: Callable[[str], str] | None = None,
        chat_template: bool = True,
    ) -> None:
        self.vocab = dict(DEFAULT_VOCAB if vocab is None else vocab)
        self.delay = delay
        self.break_when = break_when
        self.source_of = source_of or item_of
        self.chat_template = chat_template
        self.adapters: dict[int, AdapterRef] = {}
        self.requests: list[FakeRequest] = []
        self.aborted: list[str] = []
        self.in_flight = 0
        self._attempts: Counter[str] = Counter()
        self.closed = False

    # -- generation ---------------------------------------------------------------------------------------------
    def translate(self, source: str) -> str:
        def word(m: re.Match[str]) -> str:
            w = m.group(0)
            return self.vocab.get(w.lower(), w)

        return "译：" + _WORD.sub(word, source)

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        if adapter is not None and adapter.int_id not in self.adapters:
            raise EngineError(f"adapter {adapter.name} is not loaded")
        source = self.source_of(prompt)
        self.requests.append(FakeRequest(request_id, source, adapter.name if adapter else None))
        attempt = self._attempts[source]
        self._attempts[source] += 1
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.aborted.append(request_id)
            raise
        finally:
            self.in_flight -= 1
        broken = self.break_when is not None and self.break_when(source, attempt)
        text = "" if broken else self.translate(source)
        if adapter is not None:
            text = f"[{adapter.name}]{text}"
        words = self.count_tokens(prompt)
        return Generation(text=text, tokens_in=words, tokens_out=self.count_tokens(text), finish_reason="stop")

    async def stream(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> AsyncIterator[str]:
        gen = await self.generate(prompt, options, adapter=adapter, request_id=request_id)
        for piece in re.findall(r"\S+\s*", gen.text):
            yield piece

    # -- adapters -----------------------------------------------------------------------------------------------
    async def add_adapter(self, adapter: AdapterRef) -> None:
        if self.delay:
            await asyncio.sleep(self.delay / 4)
        self.adapters[adapter.int_id] = adapter

    async def remove_adapter(self, adapter: AdapterRef) -> None:
        self.adapters.pop(adapter.int_id, None)

    async def list_adapters(self) -> list[int]:
        return sorted(self.adapters)

    # -- misc ---------------------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def has_chat_template(self) -> bool:
        return self.chat_template

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        parts = [f"<|{m['role']}|>\n{m['content']}\n<|end|>" for m in messages]
        return "\n".join(parts) + "\n<|assistant|>\n"

    async def health(self) -> dict[str, object]:
        return {"state": "closed" if self.closed else "ready", "model": self.model_name, "in_flight": self.in_flight}

    async def close(self) -> None:
        self.closed = True
