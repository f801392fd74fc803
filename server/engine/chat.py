"""Any model a user already runs, behind an OpenAI-compatible ``/chat/completions`` endpoint, as the engine.

``PAPERTRANS_ENGINE__PROVIDER__KIND=openai-chat`` with ``..._BASE_URL``, ``..._MODEL`` and the API key in an
environment variable or a file (``api_key_env`` / ``api_key_file``) makes ``papertrans serve`` translate through
Ollama, llama.cpp's server, LM Studio, a hosted API or a ``vllm serve`` of an instruct model (``docs/engine.md``).

How the chat prompt reaches the provider: the prompt builder (:func:`papertrans.contract.prompts.build_prompt`) gives
a model with a chat template one user message and asks the engine to render it (``apply_chat_template``). This engine
*is* a chat endpoint, so its "template" is the identity: :meth:`ChatEngine.apply_chat_template` writes the messages
as JSON (``{"messages": [...]}``) and :meth:`ChatEngine.generate` reads them back. That is the least invasive seam:
prompts, the retry ladder, validation and the store stay as they are, and what the store records as a segment's
prompt is exactly the ``messages`` sent. A plain string prompt (a caller that built its own) goes as one user message.

What else it guarantees (the HTTP side is ``_chat_http.py``: limits, retries, error mapping):

- reasoning models' thinking never reaches the output: ``<think>…</think>`` blocks, a dangling ``<think>`` (cut by
  max_tokens), text before a closing ``</think>`` whose opening the template wrote, and ``reasoning_content`` fields;
- a refusal (``finish_reason`` ``content_filter``, a ``refusal`` field, an error body) is an :class:`EngineError`
  naming it, which the pipeline turns into a retry and then a ``fallback``;
- LoRA adapters only where the provider serves them (our ``vllm serve``: ``supports_lora``, detected from
  ``/v1/models`` ``owned_by: vllm``); elsewhere the adapter registry refuses a request naming one (422
  ``adapters_unsupported``) before it reaches the engine;
- the placeholder constraint only where the provider is our ``vllm serve`` (``vllm_xargs``, as ``remote.py``);
  elsewhere validation and the retry ladder carry the placeholders;
- ``count_tokens``: the local tokenizer when one is given (chunking as with the embedded engine), else an estimate of
  one token per 3 characters (English runs about 4 per token in common tokenizers: the estimate errs on the side of
  smaller chunks and a larger ``max_tokens``).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from ._chat_http import ModelNotFound, ProviderClient
from .protocol import AdapterLoadError, AdapterRef, EngineClosedError, EngineError, Generation, SamplingOptions
from .settings import ProviderSettings
from .tokenizer import ChatTokenizer

__all__ = ["ChatEngine", "decode_messages", "encode_messages", "strip_thinking"]

log = logging.getLogger(__name__)

#: The loop guard of the other engines (inprocess.py), sent only to vLLM (other providers refuse unknown fields).
_REPETITION = {"min_pattern_size": 2, "max_pattern_size": 24, "min_count": 4}
_CHARS_PER_TOKEN = 3
_HEALTH_TIMEOUT_S = 10.0

_THINK_BLOCK = re.compile(r"<(think|thinking)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:think|thinking)>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(?:think|thinking)>", re.IGNORECASE)


def encode_messages(messages: list[dict[str, str]]) -> str:
    """The chat messages as the prompt string the pipeline carries (and the store records)."""
    return json.dumps({"messages": messages}, ensure_ascii=False)


def decode_messages(prompt: str) -> list[dict[str, str]]:
    """The messages :func:`encode_messages` wrote; any other string is one user message."""
    try:
        data = json.loads(prompt) if prompt.startswith('{"messages"') else None
    except ValueError:
        data = None
    messages = data.get("messages") if isinstance(data, dict) else None
    if (
        isinstance(messages, list)
        and messages
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        )
    ):
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    return [{"role": "user", "content": prompt}]


def strip_thinking(text: str, *, final: bool = True) -> str:
    """``text`` without a reasoning model's thinking: closed blocks, text before an unopened ``</think>``, and a
    dangling ``<think>`` to the end. ``final=False`` (a stream so far) also holds back a tail that may be the start
    of a ``<think>`` tag."""
    out, blocks = _THINK_BLOCK.subn("", text)
    closes = list(_THINK_CLOSE.finditer(out))
    if closes:  # the chat template opened the block in the prompt: everything before the close is thought
        out = out[closes[-1].end() :]
    opened = _THINK_OPEN.search(out)
    if opened:  # never closed (max_tokens cut the thought): no answer after it
        out = out[: opened.start()]
    if not final:
        low = out.lower()
        held = max(
            (k for tag in ("<think>", "<thinking>") for k in range(1, len(tag)) if low.endswith(tag[:k])), default=0
        )
        out = out[: len(out) - held]
    return out.lstrip() if blocks or closes or opened else out


def _content(message: dict[str, Any]) -> str:
    """The answer text of a message (``content`` only: ``reasoning_content`` / ``reasoning`` are thought)."""
    content = message.get("content")
    if isinstance(content, list):  # content parts (some gateways)
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return str(content) if content is not None else ""


class ChatEngine:
    """:class:`server.engine.Engine` over one OpenAI-compatible chat provider."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        tokenizer: Any | None = None,
        model_name: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.client = ProviderClient(settings, transport=transport)
        self.served_model = settings.model
        self.model_name = model_name or settings.model or "chat-provider"
        self.device = "provider"
        self._tok = ChatTokenizer(tokenizer) if tokenizer is not None else None
        self.vllm: bool | None = None  # unknown until /v1/models answered
        self._adapters: dict[str, AdapterRef] = {}
        self._closed = False
        self._started_at = time.time()

    def __repr__(self) -> str:
        return f"ChatEngine({self.client.where!r}, model={self.served_model!r})"

    @classmethod
    async def start(
        cls,
        settings: ProviderSettings,
        *,
        tokenizer: Any | None = None,
        model_name: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> ChatEngine:
        """Ask ``/v1/models`` what the provider is (vLLM or not) and, when ``model`` is unset, which model it serves.
        A provider that does not answer yet does not stop the start (requests fail with 503 until it does)."""
        engine = cls(settings, tokenizer=tokenizer, model_name=model_name, transport=transport)
        try:
            await engine.detect()
        except EngineError as exc:
            log.warning("chat provider %s: %s (requests fail until it answers)", engine.client.where, exc)
        if not engine.served_model:
            await engine.close()
            raise EngineError(f"no model named for {engine.client.where}: set engine.provider.model")
        log.info(
            "chat provider %s, model %s (vLLM: %s, LoRA: %s, constraint: %s)",
            engine.client.where,
            engine.served_model,
            engine.vllm,
            engine.supports_adapters,
            engine.constrains,
        )
        return engine

    async def detect(self) -> None:
        """``GET /models``: whether the provider is vLLM, and the model name when none is configured."""
        data = await self.client.get("/models", timeout_s=min(_HEALTH_TIMEOUT_S, self.settings.request_timeout_s))
        cards = [c for c in data.get("data") or [] if isinstance(c, dict)]
        self.vllm = any(c.get("owned_by") == "vllm" for c in cards)
        if not self.served_model:
            base = [str(c["id"]) for c in cards if c.get("id") and not c.get("parent")]
            if base:
                self.served_model = base[0]
                self.model_name = self.model_name if self.model_name != "chat-provider" else base[0]

    @property
    def supports_adapters(self) -> bool:
        """Requests may name LoRA adapters (the setting, else: the provider is vLLM)."""
        setting = self.settings.supports_lora
        return bool(self.vllm) if setting is None else setting

    @property
    def constrains(self) -> bool:
        """The placeholder inventory goes to the provider's logits processor (the setting, else: it is vLLM)."""
        setting = self.settings.constrain
        return bool(self.vllm) if setting is None else setting

    # -- generation ---------------------------------------------------------------------------------------------
    def _body(
        self, prompt: str, options: SamplingOptions, adapter: AdapterRef | None, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": adapter.name if adapter is not None else self.served_model,
            "messages": decode_messages(prompt),
            "max_tokens": options.max_tokens + self.settings.reasoning_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream": stream,
        }
        if options.n != 1:
            body["n"] = options.n
        if options.seed is not None:
            body["seed"] = options.seed
        stop = [*options.stop, *self.settings.extra_stop]
        if stop:
            body["stop"] = stop
        if self.vllm:
            body["repetition_detection"] = _REPETITION
        if self.constrains and options.placeholders:
            # vLLM 0.32 copies vllm_xargs into SamplingParams.extra_args (ChatCompletionRequest.to_sampling_params)
            body["vllm_xargs"] = {"placeholders": list(options.placeholders), "early_stop": options.early_stop}
        return body

    def _check_adapter(self, adapter: AdapterRef | None) -> None:
        if adapter is not None and not self.supports_adapters:
            raise AdapterLoadError(f"the chat provider {self.client.where} serves no LoRA adapters")

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        self._check_open()
        self._check_adapter(adapter)
        body = self._body(prompt, options, adapter, stream=False)
        # Cancelling this task closes the HTTP request; vllm serve (and most servers) abort a request whose client left.
        try:
            data = await self.client.post("/chat/completions", body, request_id=request_id)
        except ModelNotFound:
            if adapter is None or adapter.name not in self._adapters:
                raise
            await self._load(adapter)  # a restarted vllm serve lost its runtime adapters: load again, once
            data = await self.client.post("/chat/completions", body, request_id=request_id)
        return self._generation(data, request_id)

    def _generation(self, data: dict[str, Any], request_id: str) -> Generation:
        if data.get("error"):  # some gateways answer 200 with an error body
            raise EngineError(f"request {request_id}: the provider answered an error: {_error_text(data, self)}")
        raw = data.get("choices")
        if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
            raise EngineError(f"request {request_id}: the provider answered no choices")
        choices = sorted(raw, key=lambda c: int(c.get("index") or 0))
        texts = [self._text(c, request_id) for c in choices]
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return Generation(
            text=texts[0],
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            finish_reason=_finish_reason(choices[0]),
            extra=texts[1:],
        )

    def _text(self, choice: dict[str, Any], request_id: str) -> str:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise EngineError(f"request {request_id}: a choice without a message")
        if choice.get("finish_reason") == "content_filter":
            raise EngineError(f"request {request_id}: the provider refused to answer (content_filter)")
        if message.get("refusal"):
            refusal = self.client.scrub(str(message["refusal"])[:200])
            raise EngineError(f"request {request_id}: the provider refused to answer: {refusal}")
        return strip_thinking(_content(message))

    async def stream(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> AsyncIterator[str]:
        """Text deltas of a streamed completion, thinking held back (nothing inside ``<think>`` is yielded)."""
        if options.n != 1:
            raise ValueError("stream() supports n=1 only")
        self._check_open()
        self._check_adapter(adapter)
        body = self._body(prompt, options, adapter, stream=True)
        raw, sent = "", ""
        async with self.client.stream("/chat/completions", body, request_id=request_id) as r:
            async for line in r.aiter_lines():
                raw += _sse_delta(line)
                visible = strip_thinking(raw, final=False)
                if visible.startswith(sent) and len(visible) > len(sent):
                    yield visible[len(sent) :]
                    sent = visible
        rest = strip_thinking(raw)
        if rest.startswith(sent) and len(rest) > len(sent):
            yield rest[len(sent) :]

    # -- adapters (vLLM's runtime LoRA loading) -----------------------------------------------------------------
    async def _load(self, adapter: AdapterRef) -> None:
        body = {"lora_name": adapter.name, "lora_path": adapter.path}
        try:
            await self.client.post("/load_lora_adapter", body, want_json=False)
        except ModelNotFound as exc:
            raise AdapterLoadError(f"{self.client.where} has no runtime LoRA loading: {exc}") from None
        except EngineError as exc:
            if "already been loaded" not in str(exc):  # a restart of this server against a live vllm serve
                raise AdapterLoadError(f"{self.client.where} could not load adapter {adapter.name!r}: {exc}") from None

    async def add_adapter(self, adapter: AdapterRef) -> None:
        self._check_open()
        if self.vllm is None and self.settings.supports_lora is None:
            try:
                await self.detect()
            except EngineError as exc:
                raise AdapterLoadError(f"cannot tell whether {self.client.where} serves adapters: {exc}") from None
        self._check_adapter(adapter)
        if not (Path(adapter.path) / "adapter_config.json").is_file():
            raise AdapterLoadError(f"{adapter.path} is not a PEFT adapter folder (no adapter_config.json)")
        await self._load(adapter)
        self._adapters[adapter.name] = adapter

    async def remove_adapter(self, adapter: AdapterRef) -> None:
        self._check_open()
        if self._adapters.pop(adapter.name, None) is None:
            return
        try:
            await self.client.post("/unload_lora_adapter", {"lora_name": adapter.name}, want_json=False)
        except EngineError as exc:  # gone with the server anyway
            log.info("unload of %s failed: %s", adapter.name, exc)

    async def list_adapters(self) -> list[int]:
        return sorted(a.int_id for a in self._adapters.values())

    # -- tokenizer ----------------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        if self._tok is not None:
            return self._tok.count_tokens(text)
        return max(1, math.ceil(len(text) / _CHARS_PER_TOKEN))

    def has_chat_template(self) -> bool:
        return True  # the provider applies its own template: prompts are built as messages

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        return encode_messages(messages)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def health(self) -> dict[str, object]:
        """``ok`` while ``/v1/models`` answers; ``unavailable`` (the watchdog waits: a provider comes back)."""
        error: str | None = None
        if self._closed:
            state = "closed"
        else:
            try:
                await self.detect()
                state = "ok"
            except EngineError as exc:
                state, error = "unavailable", str(exc)
        info: dict[str, object] = {
            "state": state,
            "model": self.model_name,
            "device": self.device,
            "provider": self.client.where,
            "served_model": self.served_model,
            "vllm": self.vllm,
            "supports_adapters": self.supports_adapters,
            "constrained": self.constrains,
            "uptime_s": round(time.time() - self._started_at, 1),
            "in_flight": self.client.in_flight,
            "loaded_adapter_ids": await self.list_adapters(),
        }
        if error is not None:
            info["error"] = error
        return info

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("engine is closed")


def _error_text(data: dict[str, Any], engine: ChatEngine) -> str:
    err = data.get("error")
    text = err.get("message") if isinstance(err, dict) else err
    return engine.client.scrub(str(text)[:200])


def _finish_reason(choice: dict[str, Any]) -> str | None:
    if choice.get("stop_reason") == "repetition_detected":  # vLLM's loop guard, as remote.py reads it
        return "repetition"
    reason = choice.get("finish_reason")
    if reason in ("eos", "end_turn", "stop_sequence"):  # other providers' names for a normal stop
        return "stop"
    return str(reason) if reason is not None else None


def _sse_delta(line: str) -> str:
    """The content delta of one ``data: {...}`` line of a chat stream ("" for anything else; reasoning is skipped)."""
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return ""
    try:
        choices = json.loads(payload).get("choices") or []
    except (ValueError, AttributeError):
        return ""
    delta = choices[0].get("delta") if choices and isinstance(choices[0], dict) else None
    return _content(delta) if isinstance(delta, dict) else ""
