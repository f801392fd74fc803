"""The endpoints behind :class:`~papertrans.server.engine.remote.RemoteEngine` and how a request reaches one.

:class:`EndpointPool` owns the HTTP client and what this replica knows about each ``vllm serve`` endpoint: health
(``/health`` probes, in the background for the ones taken out), routing (the healthy endpoint with the fewest
requests outstanding), failover (an endpoint that fails a request is taken out and the request goes to the next one)
and runtime LoRA adapters (loaded on every endpoint or none, loaded again on one that restarted). The engine builds
the request bodies and reads the answers; the pool only moves them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .protocol import AdapterLoadError, AdapterRef, EngineError, EngineUnavailableError
from .settings import EngineSettings

__all__ = ["Endpoint", "EndpointPool"]

# The pool is the remote engine's machinery: its log lines keep the engine's logger.
log = logging.getLogger(f"{__package__}.remote")

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


class EndpointPool:
    """The ``vllm serve`` endpoints of one remote engine, their HTTP client and the adapters added to them."""

    def __init__(
        self, urls: Sequence[str], settings: EngineSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.endpoints = [Endpoint(u.rstrip("/")) for u in urls]
        self.http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(settings.request_timeout_s, connect=5.0)
        )
        self.adapters: dict[str, AdapterRef] = {}  # every adapter added, by served name
        self._probe: asyncio.Task[None] | None = None

    # -- health -------------------------------------------------------------------------------------------------

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
            r = await self.http.get(f"{ep.url}/health", timeout=self.settings.health_timeout_s)
            ok, reason = r.status_code == 200, f"/health answered {r.status_code}"
        except httpx.HTTPError as exc:
            ok, reason = False, f"/health failed: {type(exc).__name__}: {exc}"
        if not ok:
            ep.take_out(reason)
        elif not ep.healthy:
            log.info("engine endpoint %s is back", ep.url)
            ep.healthy, ep.down_since, ep.last_error = True, None, None

    async def discover_model(self) -> str | None:
        """The base model id of the first healthy endpoint (``GET /v1/models``: the entry without a parent)."""
        for ep in self.endpoints:
            if not ep.healthy:
                continue
            try:
                r = await self.http.get(f"{ep.url}/v1/models")
                r.raise_for_status()
                for card in r.json().get("data", []):
                    if not card.get("parent"):
                        return str(card["id"])
            except (httpx.HTTPError, ValueError, KeyError):
                continue
        return None

    async def close(self) -> None:
        """Stop the background probe and close the HTTP client."""
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        await self.http.aclose()

    # -- routing ------------------------------------------------------------------------------------------------

    def _pick(self, tried: set[str]) -> Endpoint | None:
        candidates = [ep for ep in self.endpoints if ep.healthy and ep.url not in tried]
        return min(candidates, key=lambda ep: ep.outstanding, default=None)

    async def _next(self, tried: set[str], probed: list[bool]) -> Endpoint:
        """The endpoint a request tries next (added to ``tried``), or :class:`EngineUnavailableError`.

        When every endpoint is out or tried, the taken-out ones are asked once per request; one that answers its
        ``/health`` may be tried again. Why: a single endpoint whose API loop stalls past the connect timeout under
        load (CI's loaded machine did, with one ``vllm serve``) is healthy a moment later, and one timeout must not
        fail a whole document with 503.
        """
        ep = self._pick(tried)
        if ep is None and not probed[0]:
            probed[0] = True
            await self.probe(only_down=True)
            tried.difference_update(e.url for e in self.endpoints if e.healthy)
            ep = self._pick(tried)
        if ep is None:
            raise EngineUnavailableError(self.none_left(tried))
        tried.add(ep.url)
        return ep

    def none_left(self, tried: set[str]) -> str:
        """Why no endpoint can serve: every endpoint's last error (the message of :class:`EngineUnavailableError`)."""
        errors = "; ".join(f"{ep.url}: {ep.last_error or 'failed'}" for ep in self.endpoints)
        return f"no engine endpoint can serve ({len(tried)} tried): {errors}"

    async def route(self, path: str, body: dict[str, Any], adapter: AdapterRef | None) -> dict[str, Any]:
        """POST to the least-loaded healthy endpoint; on an endpoint failure take it out and try the next one."""
        tried: set[str] = set()
        reloaded: set[str] = set()
        probed = [False]
        while True:
            ep = await self._next(tried, probed)
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

    async def _post(self, ep: Endpoint, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = await self.http.post(f"{ep.url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise _EndpointDown(f"{type(exc).__name__}: {exc}") from exc
        if r.status_code == 404 and body.get("model") in self.adapters:
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

    async def stream(self, path: str, body: dict[str, Any], adapter: AdapterRef | None) -> AsyncGenerator[str, None]:
        """The text deltas of a streamed completion; failover happens before the first delta only (a half-streamed
        answer cannot move)."""
        tried: set[str] = set()
        probed = [False]
        while True:
            ep = await self._next(tried, probed)
            ep.outstanding += 1
            sent = False
            try:
                if adapter is not None:
                    await self._ensure_adapter(ep, adapter)
                async with self.http.stream("POST", f"{ep.url}{path}", json=body) as r:
                    if r.status_code in _CLIENT_ERRORS:
                        raise EngineError(f"{ep.url} refused the request ({r.status_code})")
                    if r.status_code != 200:
                        raise _EndpointDown(f"{path} answered {r.status_code}")
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
            r = await self.http.post(f"{ep.url}/v1/load_lora_adapter", json=body)
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
        if adapter.name not in self.adapters:
            raise EngineError(f"adapter {adapter.name!r} was never added to the engine")
        await self._load(ep, adapter)

    async def add_adapter(self, adapter: AdapterRef) -> None:
        """Load on every healthy endpoint; if one refuses, unload it from the others (all or none)."""
        live = [ep for ep in self.endpoints if ep.healthy]
        if not live:
            raise EngineUnavailableError(self.none_left(set()))
        results = await asyncio.gather(*(self._load(ep, adapter) for ep in live), return_exceptions=True)
        for ep, res in zip(live, results, strict=True):
            if isinstance(res, _EndpointDown):
                ep.take_out(str(res))  # it gets the adapter when it comes back
        refused = [res for res in results if isinstance(res, BaseException) and not isinstance(res, _EndpointDown)]
        if refused or not any(ep.healthy for ep in live):
            await asyncio.gather(*(self._unload(ep, adapter.name) for ep in live if adapter.name in ep.loaded))
            if refused:
                raise refused[0] if isinstance(refused[0], AdapterLoadError) else AdapterLoadError(str(refused[0]))
            raise EngineUnavailableError(self.none_left(set()))
        self.adapters[adapter.name] = adapter

    async def _unload(self, ep: Endpoint, name: str) -> None:
        ep.loaded.discard(name)
        try:
            await self.http.post(f"{ep.url}/v1/unload_lora_adapter", json={"lora_name": name})
        except httpx.HTTPError as exc:  # gone with the endpoint anyway
            log.info("unload of %s on %s failed: %s", name, ep.url, exc)

    async def remove_adapter(self, name: str) -> None:
        """Forget the adapter and unload it from the healthy endpoints (the others lost it already)."""
        self.adapters.pop(name, None)
        await asyncio.gather(*(self._unload(ep, name) for ep in self.endpoints if ep.healthy))


def _message(r: httpx.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:200]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message"))[:200]
    return str(data.get("message") if isinstance(data, dict) else data)[:200]


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
