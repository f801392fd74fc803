"""How :class:`~papertrans.server.engine.chat.ChatEngine` talks to its provider: one HTTP client with the provider's
concurrency and rate limits, retries with backoff, and the mapping of every failure to the engine's errors.

=====================================  ==============================================================================
the provider answers                   what the engine raises
=====================================  ==============================================================================
200 with JSON                          nothing (the body is returned)
200 that is not JSON                   :class:`EngineError` (one request failed: the pipeline retries, then falls back)
429, 500, 502, 503, 504, 529           tried again after ``Retry-After`` (429: the whole provider pauses) or a
                                       doubling backoff, up to ``max_attempts``; then :class:`EngineError`. A
                                       ``Retry-After`` above ``max_retry_after_s`` (a spent quota) is
                                       :class:`EngineUnavailableError` at once
401, 403                               :class:`EngineUnavailableError` (no request can succeed: 503 with the reason)
404                                    :class:`ModelNotFound` (an :class:`EngineUnavailableError`: wrong base URL or
                                       model; the engine first reloads a LoRA adapter that a restarted vLLM lost)
other 4xx (400 content policy, 422)    :class:`EngineError` with the provider's message
connection refused / reset             tried again with backoff; then :class:`EngineUnavailableError`
read timeout                           :class:`EngineError` at once (the pipeline retries in smaller pieces)
=====================================  ==============================================================================

The API key lives in a :class:`~pydantic.SecretStr` and goes only into the ``Authorization`` header of each request;
every message built from a provider's answer passes :meth:`ProviderClient.scrub`, so that a provider echoing the key
in an error body cannot leak it into logs or responses.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from .protocol import EngineError, EngineUnavailableError
from .settings import ProviderSettings

__all__ = ["ModelNotFound", "ProviderClient", "normalize_base_url", "public_url", "resolve_api_key"]

log = logging.getLogger(f"{__package__}.chat")

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 529})  # 529: "overloaded" (some hosted APIs)


class ModelNotFound(EngineUnavailableError):
    """The provider answered 404: no such model (or adapter) at this base URL."""


@dataclass
class _Retry:
    reason: str
    retry_after: float | None = None
    status: int | None = None
    unreachable: bool = False  # no answer at all: after the last try the provider is unavailable, not one request


def resolve_api_key(settings: ProviderSettings) -> SecretStr | None:
    """The API key from ``api_key``, else ``api_key_file``, else the variable ``api_key_env`` names (None: no key)."""
    if settings.api_key is not None:
        return settings.api_key
    if settings.api_key_file is not None:
        try:
            return SecretStr(settings.api_key_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise EngineUnavailableError(
                f"cannot read the API key file {settings.api_key_file}: {exc.strerror}"
            ) from None
    if settings.api_key_env:
        value = os.environ.get(settings.api_key_env)
        if not value:
            raise EngineUnavailableError(f"the API key variable {settings.api_key_env} is not set")
        return SecretStr(value.strip())
    return None


def normalize_base_url(url: str) -> str:
    """The base URL without a trailing slash; a bare ``http://host:port`` gets the OpenAI ``/v1``."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


def public_url(url: str) -> str:
    """The URL without user info (``https://user:secret@host`` is shown as ``https://host``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _retry_after(r: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = r.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ProviderClient:
    """The HTTP side of one chat provider: limits, retries, error mapping. ``sleep`` and ``clock`` are injectable so
    that tests observe the waits without spending them."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.base_url = normalize_base_url(settings.base_url)
        self.where = public_url(self.base_url)
        self._key = resolve_api_key(settings)
        self.http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s)
        )
        self.sleep = sleep
        self.clock = clock
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._pace_lock = asyncio.Lock()
        self._next_start = 0.0  # the earliest start of the next request (rate limit)
        self._paused_until = 0.0  # a 429's Retry-After pauses every request to this provider
        self.in_flight = 0

    def __repr__(self) -> str:  # never the key (SecretStr hides it too; this keeps the whole object short)
        return f"ProviderClient({self.where!r})"

    def scrub(self, text: str) -> str:
        """``text`` with the API key replaced (a provider may echo it in an error)."""
        key = self._key.get_secret_value() if self._key is not None else ""
        return text.replace(key, "***") if key else text

    def _headers(self, request_id: str | None) -> dict[str, str]:
        headers = {"X-Request-Id": request_id} if request_id else {}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        return headers

    def message(self, r: httpx.Response) -> str:
        """The provider's error message (OpenAI's ``{"error": {"message": ...}}`` or the body), short, scrubbed."""
        try:
            data = r.json()
        except ValueError:
            return self.scrub(r.text[:200])
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            return self.scrub(str(err.get("message") or err)[:200])
        return self.scrub(str(err if err is not None else data)[:200])

    # -- limits -------------------------------------------------------------------------------------------------
    async def _pace(self) -> None:
        """Wait for this request's start slot: ``requests_per_minute`` spread evenly, and any 429 pause."""
        rpm = self.settings.requests_per_minute
        async with self._pace_lock:
            now = self.clock()
            start = max(now, self._paused_until, self._next_start if rpm else now)
            if rpm:
                self._next_start = start + 60.0 / rpm
        if start > now:
            await self.sleep(start - now)

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        async with self._slots:
            await self._pace()
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1

    # -- requests -----------------------------------------------------------------------------------------------
    def _classify(self, r: httpx.Response, path: str) -> _Retry | None:
        """None for a 200; a :class:`_Retry` for a status worth another try; raises for the others."""
        status = r.status_code
        if status == 200:
            return None
        if status in (401, 403):
            raise EngineUnavailableError(
                f"the provider {self.where} refused the API key ({status}: {self.message(r)}); check "
                "engine.provider.api_key_env / api_key_file"
            )
        if status == 404:
            raise ModelNotFound(f"{self.where}{path} answered 404 ({self.message(r)}); check base_url and model")
        if status in _RETRY_STATUS:
            return _Retry(f"{path} answered {status}: {self.message(r)}", _retry_after(r), status)
        raise EngineError(f"the provider {self.where} refused the request ({status}): {self.message(r)}")

    async def _wait(self, failure: _Retry, attempt: int) -> None:
        """Before try ``attempt + 1``: ``Retry-After`` when given (a 429 pauses the whole provider), else backoff."""
        s = self.settings
        if failure.retry_after is not None and failure.retry_after > s.max_retry_after_s:
            raise EngineUnavailableError(
                f"the provider {self.where} asks to wait {failure.retry_after:.0f} s ({failure.reason}), more than "
                f"engine.provider.max_retry_after_s = {s.max_retry_after_s:.0f} s"
            )
        if failure.retry_after is not None:
            wait = failure.retry_after
            if failure.status == 429:  # the provider's limit, not this request's: every request waits
                self._pause(wait)
        else:
            wait = min(s.backoff_s * 2 ** (attempt - 1), s.backoff_max_s)
        log.warning(
            "provider %s: %s; try %d of %d in %.1f s", self.where, failure.reason, attempt + 1, s.max_attempts, wait
        )
        await self.sleep(wait)

    async def post(
        self, path: str, body: dict[str, Any], *, request_id: str | None = None, want_json: bool = True
    ) -> dict[str, Any]:
        """POST JSON and return the JSON answer, with the retries and error mapping of the module's table
        (``want_json=False``: an answer in plain text, as vLLM's adapter endpoints give, is ``{}``)."""
        failure = _Retry("no try made")
        for attempt in range(1, self.settings.max_attempts + 1):
            async with self._slot():
                try:
                    r = await self.http.post(f"{self.base_url}{path}", json=body, headers=self._headers(request_id))
                except httpx.TimeoutException as exc:
                    raise EngineError(
                        f"the provider {self.where} did not answer in time ({type(exc).__name__})"
                    ) from None
                except httpx.TransportError as exc:
                    failure = _Retry(
                        f"cannot reach {self.where}: {type(exc).__name__}: {self.scrub(str(exc))}", unreachable=True
                    )
                else:
                    retry = self._classify(r, path)
                    if retry is None:
                        return self._json(r, path) if want_json else {}
                    failure = retry
            if attempt < self.settings.max_attempts:
                await self._wait(failure, attempt)
        error = EngineUnavailableError if failure.unreachable else EngineError
        raise error(f"{failure.reason} (after {self.settings.max_attempts} tries)")

    def _json(self, r: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = r.json()
        except ValueError:
            raise EngineError(
                f"{self.where}{path} answered 200 without valid JSON: {self.scrub(r.text[:120])!r}"
            ) from None
        if not isinstance(data, dict):
            raise EngineError(f"{self.where}{path} answered JSON that is not an object")
        return data

    @asynccontextmanager
    async def stream(
        self, path: str, body: dict[str, Any], *, request_id: str | None = None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed POST (one try: a half-streamed answer cannot be sent again), errors mapped as for :meth:`post`."""
        async with self._slot():
            try:
                async with self.http.stream(
                    "POST", f"{self.base_url}{path}", json=body, headers=self._headers(request_id)
                ) as r:
                    if r.status_code != 200:
                        await r.aread()
                        retry = self._classify(r, path)
                        raise EngineError(retry.reason if retry else f"{path} failed")
                    yield r
            except httpx.TimeoutException as exc:
                raise EngineError(f"the provider {self.where} did not answer in time ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise EngineError(f"the provider {self.where} failed mid-stream: {type(exc).__name__}") from None

    async def get(self, path: str, *, timeout_s: float) -> dict[str, Any]:
        """GET JSON once (model list, health), errors mapped as for :meth:`post` (a 5xx is an :class:`EngineError`)."""
        try:
            r = await self.http.get(f"{self.base_url}{path}", headers=self._headers(None), timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(f"cannot reach {self.where}: {type(exc).__name__}") from None
        retry = self._classify(r, path)
        if retry is not None:
            raise EngineError(retry.reason)
        return self._json(r, path)

    async def close(self) -> None:
        await self.http.aclose()
