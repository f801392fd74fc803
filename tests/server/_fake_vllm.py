"""A fake fleet of ``vllm serve`` endpoints on an httpx MockTransport: the OpenAI completion API, runtime LoRA
loading and ``/health``, answering with the fake engine's translations (placeholders kept), so that the remote engine
can be tested for routing, failover and adapters without a model."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from papertrans.server.engine import SamplingOptions
from papertrans.server.engine.fake import FakeEngine

MODEL = "served-model"


class WordTokenizer:
    """Stands in for the model's tokenizer: one token per 4 characters, no chat template (few-shot prompts)."""

    chat_template = None
    bos_token = None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [0] * max(1, len(text) // 4)


@dataclass
class FakeServer:
    """One endpoint. ``mode``: ``up``, ``down`` (connection refused), ``error`` (500 on completions)."""

    url: str
    mode: str = "up"
    loras: dict[str, str] = field(default_factory=dict)  # name -> path
    refuse_lora: bool = False
    completions: list[dict[str, Any]] = field(default_factory=list)
    gate: asyncio.Event | None = None  # completions wait on it when set (to hold requests in flight)
    fail_after: int | None = None  # go down after answering this many completions
    stalls: int = 0  # this many completions time out connecting while /health answers (an API loop stalled a moment)
    engine: FakeEngine = field(default_factory=FakeEngine)

    def restart(self) -> None:
        """A fresh process: up again, runtime adapters gone."""
        self.mode, self.loras = "up", {}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/health":
            return httpx.Response(200)
        if path == "/v1/models":
            cards = [{"id": MODEL, "parent": None}] + [{"id": n, "parent": MODEL} for n in self.loras]
            return httpx.Response(200, json={"data": cards})
        body = json.loads(request.content or b"{}")
        if path == "/v1/load_lora_adapter":
            if body["lora_name"] in self.loras:  # vLLM checks this before it tries to load
                return httpx.Response(400, json={"error": {"message": "has already been loaded"}})
            if self.refuse_lora:
                return httpx.Response(500, json={"error": {"message": "rank too large"}})
            self.loras[body["lora_name"]] = body["lora_path"]
            return httpx.Response(200, text="Success")
        if path == "/v1/unload_lora_adapter":
            if self.loras.pop(body["lora_name"], None) is None:
                return httpx.Response(404, json={"error": {"message": "cannot be found"}})
            return httpx.Response(200, text="Success")
        if path == "/v1/completions":
            if self.stalls > 0:
                self.stalls -= 1
                raise httpx.ConnectTimeout("timed out", request=request)
            return await self._complete(body)
        return httpx.Response(404)

    async def _complete(self, body: dict[str, Any]) -> httpx.Response:
        if self.mode == "error":
            return httpx.Response(500, json={"error": {"message": "engine core died"}})
        if body["model"] != MODEL and body["model"] not in self.loras:
            return httpx.Response(404, json={"error": {"message": f"The model `{body['model']}` does not exist."}})
        if self.gate is not None:
            await self.gate.wait()
        if self.mode == "down":  # went away while the request waited
            raise httpx.ReadError("connection reset")
        self.completions.append(body)
        if self.fail_after is not None and len(self.completions) >= self.fail_after:
            self.mode = "down"
        gen = await self.engine.generate(body["prompt"], SamplingOptions(), request_id="x")
        text = gen.text
        if body.get("stream"):
            chunks = [text[: len(text) // 2], text[len(text) // 2 :]]
            lines = [f"data: {json.dumps({'choices': [{'index': 0, 'text': c}]})}\n\n" for c in chunks]
            return httpx.Response(200, content=("".join(lines) + "data: [DONE]\n\n").encode())
        choice = {"index": 0, "text": text, "finish_reason": "stop", "stop_reason": None}
        usage = {"prompt_tokens": len(body["prompt"]) // 4, "completion_tokens": len(text) // 4}
        return httpx.Response(200, json={"choices": [choice], "usage": usage})


class FakeFleet:
    """Several fake endpoints behind one transport, dispatched by host."""

    def __init__(self, n: int) -> None:
        self.servers = {f"http://vllm-{i}:8000": FakeServer(f"http://vllm-{i}:8000") for i in range(n)}

    @property
    def urls(self) -> list[str]:
        return list(self.servers)

    def __getitem__(self, i: int) -> FakeServer:
        return list(self.servers.values())[i]

    def transport(self) -> httpx.MockTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            return await self.servers[f"{request.url.scheme}://{request.url.host}:{request.url.port}"].handle(request)

        return httpx.MockTransport(handler)
