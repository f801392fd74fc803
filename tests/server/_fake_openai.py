"""A small OpenAI-compatible chat provider for fast tests: an ``httpx.MockTransport`` handler with scripted faults.

It serves ``GET /v1/models``, ``POST /v1/chat/completions`` (it "translates" the text after ``Text:`` of the last
user message with :class:`FakeEngine`'s rule, which keeps every placeholder) and vLLM's runtime LoRA endpoints. Each
chat request first takes the next entry of :attr:`FakeOpenAI.script` (a fault: a status with ``Retry-After``, a body
that is not JSON, a refusal, an answer wrapped in ``<think>``, a timeout, a dropped connection); an empty script
answers normally. A wrong or missing key gets a 401 whose message echoes the key it was sent, as some providers do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from papertrans.server.engine.fake import FakeEngine

__all__ = ["FakeOpenAI", "Fault", "answer", "status", "think"]

#: A scripted answer to one chat request: a response, or an exception to raise (a timeout, a dropped connection).
Fault = Callable[[httpx.Request, dict[str, Any]], Awaitable[httpx.Response]]

_TEXT = "Text:\n"


def item_of(body: dict[str, Any]) -> str:
    """The text to translate: what follows ``Text:`` in the last user message (all of it otherwise)."""
    user = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    content = user[-1] if user else ""
    at = content.rfind(_TEXT)
    return content[at + len(_TEXT) :] if at >= 0 else content


def completion(text: str | None, *, finish: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text, **message}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": max(1, len(text or "") // 2)},
    }


def status(code: int, *, retry_after: str | None = None, message: str = "try later") -> Fault:
    async def fault(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(code, json={"error": {"message": message, "type": "error"}}, headers=headers)

    return fault


def raw(code: int, content: str, content_type: str = "application/json") -> Fault:
    async def fault(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(code, content=content.encode(), headers={"content-type": content_type})

    return fault


def answer(make: Callable[[str], dict[str, Any]]) -> Fault:
    """A 200 whose JSON ``make(translation)`` builds (refusals, reasoning fields, odd shapes)."""

    async def fault(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json=make(FakeEngine().translate(item_of(body))))

    return fault


def think(wrap: Callable[[str], str]) -> Fault:
    """A normal translation whose content ``wrap`` surrounds with reasoning text."""
    return answer(lambda t: completion(wrap(t), reasoning_content="Let me think: the user wants Chinese."))


def error(exc: Callable[[httpx.Request], Exception]) -> Fault:
    async def fault(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        raise exc(request)

    return fault


class FakeOpenAI:
    """The provider. ``owned_by="vllm"`` makes it look like our ``vllm serve`` (LoRA, vllm_xargs)."""

    def __init__(
        self, *, key: str | None = "sk-fake-provider-key-0123456789", owned_by: str = "ollama", model: str = "qwen3"
    ) -> None:
        self.key = key
        self.owned_by = owned_by
        self.model = model
        self.script: list[Fault] = []
        self.always: Fault | None = None  # answer every chat request with this fault
        self.chat_requests: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []
        self.loaded: list[str] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {given}"}})
        path = request.url.path
        if request.method == "GET" and path == "/v1/models":
            card = {"id": self.model, "object": "model", "owned_by": self.owned_by}
            return httpx.Response(200, json={"object": "list", "data": [card]})
        body = json.loads(request.content or b"{}")
        if path == "/v1/load_lora_adapter":
            self.loaded.append(body["lora_name"])
            return httpx.Response(200, text="ok")
        if path == "/v1/unload_lora_adapter":
            return httpx.Response(200, text="ok")
        if path != "/v1/chat/completions":
            return httpx.Response(404, json={"error": {"message": f"no route {path}"}})
        return await self._chat(request, body)

    async def _chat(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        self.chat_requests.append(body)
        self.headers.append(request.headers)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            fault = self.script.pop(0) if self.script else self.always
            if fault is not None:
                return await fault(request, body)
            if body.get("model") not in (self.model, *self.loaded):
                return httpx.Response(404, json={"error": {"message": f"model {body.get('model')!r} not found"}})
            return httpx.Response(200, json=completion(FakeEngine().translate(item_of(body))))
        finally:
            self.in_flight -= 1
