"""The model's tokenizer as the server uses it: token counts for chunking and the chat template for prompts.

Shared by engines that tokenize on the server side (``server/engine/remote.py`` loads it from the local model folder,
so that chunks and prompts are the same as with the in-process engine, which uses vLLM's copy of the same tokenizer).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChatTokenizer"]


class ChatTokenizer:
    """Wraps a Hugging Face tokenizer (anything with ``encode`` and, optionally, ``apply_chat_template``)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def apply_chat_template(self, messages: list[dict[str, str]], model_name: str = "model") -> str:
        if not self.has_chat_template():
            raise ValueError(f"model {model_name} has no chat template")
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        bos = getattr(self.tokenizer, "bos_token", None)
        # vLLM adds BOS itself when it tokenizes the prompt; a template that also writes it would double it.
        if bos and isinstance(text, str) and text.startswith(bos):
            text = text[len(bos) :]
        return str(text)
