"""The Python client of the papertrans HTTP API: ``Client`` (sync) and ``AsyncClient`` (asyncio), same methods.

Each endpoint is described once as a ``_Call`` (method, path, body, headers, parser); the two classes only differ in
how they send it. Connection failures become ``ServerUnavailable``; error statuses become ``ApiError`` carrying the
server's machine-readable ``{"error": code, "detail": ...}``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx

from ..errors import ApiError, ClientError, JobFailed, ServerUnavailable
from ._sse import SseParser
from ._types import Comparison, GlossaryLike, Health, Job, TranslateResult, glossary_payload

__all__ = ["AsyncClient", "Client", "ProgressCallback"]

T = TypeVar("T")
JSON = dict[str, Any]
# Called with (done, total, event-or-None) whenever a job makes progress.
ProgressCallback = Callable[[int, int, "JSON | None"], None]

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)  # a whole-document /translate on CPU takes minutes
_TERMINAL_EVENTS = frozenset({"done", "complete", "completed", "end", "finished", "failed", "error", "cancelled"})
# Statuses meaning "this server has no event stream for that job": fall back to polling.
_NO_STREAM_STATUSES = frozenset({404, 405, 406, 501})


@dataclass(frozen=True)
class _Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    body: object | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _seg(value: object) -> str:
    return quote(str(value), safe="@")


def _identity(data: Any) -> Any:
    return data


def _job_id(data: Any) -> str:
    if isinstance(data, Mapping):
        for key in ("id", "job_id"):
            if key in data:
                return str(data[key])
    raise ClientError(f"unexpected answer to POST /jobs: {data!r}")


def _as_list(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping):
        for key in ("adapters", "items", "data"):
            if isinstance(data.get(key), list):
                return list(data[key])
    return [data]


def _translate_body(
    markdown: str, adapter: str | None, glossary: GlossaryLike | None, output: str
) -> JSON:
    body: JSON = {"markdown": markdown, "output": output}
    if adapter:
        body["adapter"] = adapter
    entries = glossary_payload(glossary)
    if entries:
        body["glossary"] = entries
    return body


def _error_from(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    code = f"http_{response.status_code}"
    detail = ""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):  # {"error": {"code": ..., "detail": ...}}
            code = str(error.get("code", code))
            detail = str(error.get("detail", ""))
        elif error is not None:
            code = str(error)
        detail = detail or str(body.get("detail", "") or body.get("message", ""))
        extra = body.get("extra")
        if extra and not detail:
            detail = str(extra)
    elif isinstance(body, str):
        detail = body[:500]
    return ApiError(response.status_code, code, detail, body)


def _decode(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise _error_from(response)
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise ClientError(f"{response.request.method} {response.request.url.path}: answer is not JSON") from exc


def _progress_of(event: Mapping[str, Any], done: int, total: int) -> tuple[int, int]:
    progress = event.get("progress")
    source: Mapping[str, Any] = progress if isinstance(progress, Mapping) else event
    new_done = source.get("done", source.get("segments_done"))
    new_total = source.get("total", source.get("segments_total"))
    done = int(new_done) if isinstance(new_done, int) else done + (1 if _is_segment_event(event) else 0)
    total = int(new_total) if isinstance(new_total, int) else total
    return done, total


def _is_segment_event(event: Mapping[str, Any]) -> bool:
    name = str(event.get("event", "segment"))
    return name in ("segment", "message", "progress") and ("segment_id" in event or "id" in event or "status" in event)


def _is_terminal(event: Mapping[str, Any]) -> bool:
    name = str(event.get("event", "")).lower()
    if name in _TERMINAL_EVENTS:
        return True
    state = event.get("state", event.get("job_status"))
    return isinstance(state, str) and state.lower() in _TERMINAL_EVENTS


def _result_of(job: Job) -> TranslateResult:
    if job.failed:
        raise JobFailed(job.id, job.error or job.status)
    if job.result is None:
        raise ClientError(f"job {job.id} is {job.status} but carries no result")
    return job.result


class _Base:
    """Endpoint descriptions shared by both clients."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers: dict[str, str] = {"User-Agent": "papertrans-client", "Accept": "application/json"}
        if api_key:
            self._headers["X-API-Key"] = api_key
        if admin_key:
            self._headers["X-Admin-Key"] = admin_key
        if timeout is None:
            self._timeout = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            self._timeout = timeout
        else:
            self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))

    def _unavailable(self, exc: httpx.TransportError) -> ServerUnavailable:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ServerUnavailable(self.base_url, reason)

    # --- calls -----------------------------------------------------------------------------------------------
    @staticmethod
    def _c_translate(markdown: str, adapter: str | None, glossary: GlossaryLike | None, output: str) -> _Call[Any]:
        return _Call("POST", "/translate", TranslateResult.from_json, _translate_body(markdown, adapter, glossary, output))

    @staticmethod
    def _c_submit_job(markdown: str, adapter: str | None, glossary: GlossaryLike | None, output: str) -> _Call[Any]:
        return _Call("POST", "/jobs", _job_id, _translate_body(markdown, adapter, glossary, output))

    @staticmethod
    def _c_job(job_id: str) -> _Call[Any]:
        return _Call("GET", f"/jobs/{_seg(job_id)}", Job.from_json)

    @staticmethod
    def _c_feedback(
        translation_id: str,
        segment_id: str,
        rating: str | None,
        correction: str | None,
        comment: str | None,
        idempotency_key: str | None,
    ) -> _Call[Any]:
        body: JSON = {"translation_id": translation_id, "segment_id": segment_id}
        for key, value in (("rating", rating), ("correction", correction), ("comment", comment)):
            if value is not None:
                body[key] = value
        # A key per logical write makes the client's own retries safe (the server deduplicates on it).
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return _Call("POST", "/feedback", _identity, body, headers)

    @staticmethod
    def _c_create_comparison(body: JSON, idempotency_key: str | None) -> _Call[Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _Call("POST", "/comparisons", Comparison.from_json, body, headers)

    @staticmethod
    def _c_choose(comparison_id: str, choice: str, idempotency_key: str | None) -> _Call[Any]:
        if choice not in ("a", "b", "same"):
            raise ValueError(f"choice must be 'a', 'b' or 'same', not {choice!r}")
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return _Call("POST", f"/comparisons/{_seg(comparison_id)}/choice", _identity, {"choice": choice}, headers)


def _comparison_body(translation_id: str, segment_id: str, variants: list[str] | None) -> JSON:
    body: JSON = {"translation_id": translation_id, "segment_id": segment_id}
    if variants is not None:
        body["variants"] = list(variants)
    return body


class Client(_Base):
    """Synchronous client. Use as a context manager, or call ``close()``.

    >>> with Client("http://127.0.0.1:8000") as c:          # doctest: +SKIP
    ...     print(c.translate("The attention mechanism $a_t$ ...").markdown)
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, admin_key=admin_key, timeout=timeout)
        # Transport retries only repeat failed *connects* (nothing was sent), so they are safe for every method.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport or httpx.HTTPTransport(retries=1),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, json=call.body, headers=call.headers)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        return call.parse(_decode(response))

    def _get(self, path: str) -> Any:
        return self._send(_Call("GET", path, _identity))

    # --- translation ---------------------------------------------------------------------------------------
    def translate(
        self, markdown: str, *, adapter: str | None = None, glossary: GlossaryLike | None = None, output: str = "zh"
    ) -> TranslateResult:
        """Translate a whole document in one request (``POST /translate``)."""
        return self._send(self._c_translate(markdown, adapter, glossary, output))  # type: ignore[no-any-return]

    def submit_job(
        self, markdown: str, *, adapter: str | None = None, glossary: GlossaryLike | None = None, output: str = "zh"
    ) -> str:
        """Start a translation job (``POST /jobs``); returns its id."""
        return self._send(self._c_submit_job(markdown, adapter, glossary, output))  # type: ignore[no-any-return]

    def job(self, job_id: str) -> Job:
        return self._send(self._c_job(job_id))  # type: ignore[no-any-return]

    def job_events(self, job_id: str) -> Iterator[JSON]:
        """Server-sent events of a job, one dict per event, until the server closes the stream."""
        headers = {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(None, connect=self._timeout.connect)
        try:
            with self._http.stream("GET", f"/jobs/{_seg(job_id)}/events", headers=headers, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _error_from(resp)
                parser = SseParser()
                for line in resp.iter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
                tail = parser.feed("")
                if tail is not None:
                    yield tail
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    def wait_job(
        self,
        job_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        use_events: bool = True,
        poll_interval: float = 0.5,
    ) -> TranslateResult:
        """Follow a job to its end (events when the server streams them, else polling) and return its result.

        Raises ``JobFailed`` when the job fails and ``ServerUnavailable`` when the server goes away meanwhile.
        """
        job = self.job(job_id)
        done, total = job.done, job.total
        if on_progress:
            on_progress(done, total, None)
        if not (job.finished or job.failed) and use_events:
            try:
                for event in self.job_events(job_id):
                    done, total = _progress_of(event, done, total)
                    if on_progress:
                        on_progress(done, total, event)
                    if _is_terminal(event):
                        break
            except ApiError as exc:
                if exc.status not in _NO_STREAM_STATUSES:
                    raise
            except ServerUnavailable:
                pass  # a dropped stream is not a dead server: the polling below finds out which
        while True:
            job = self.job(job_id)
            if on_progress and (job.done, job.total) != (done, total) and job.total:
                done, total = job.done, job.total
                on_progress(done, total, None)
            if job.finished or job.failed:
                return _result_of(job)
            time.sleep(poll_interval)

    # --- reads ---------------------------------------------------------------------------------------------
    def health(self) -> Health:
        return self._send(_Call("GET", "/health", Health.from_json))

    def adapters(self) -> list[Any]:
        return self._send(_Call("GET", "/adapters", _as_list))

    def translation(self, translation_id: str) -> JSON:
        return self._get(f"/translations/{_seg(translation_id)}")  # type: ignore[no-any-return]

    def feedback_stats(self) -> JSON:
        return self._get("/stats/feedback")  # type: ignore[no-any-return]

    # --- adapter admin (X-Admin-Key) -----------------------------------------------------------------------
    def register_adapter_version(self, name: str, folder: str) -> JSON:
        return self._send(_Call("POST", f"/adapters/{_seg(name)}/versions", _identity, {"folder": folder}))

    def activate_adapter(self, name: str, version: int) -> JSON:
        return self._send(_Call("POST", f"/adapters/{_seg(name)}/activate", _identity, {"version": version}))

    def rollback_adapter(self, name: str) -> JSON:
        return self._send(_Call("POST", f"/adapters/{_seg(name)}/rollback", _identity, {}))

    def delete_adapter_version(self, name: str, version: int) -> JSON:
        return self._send(_Call("DELETE", f"/adapters/{_seg(name)}/versions/{version}", _identity))

    # --- feedback ------------------------------------------------------------------------------------------
    def feedback(
        self,
        translation_id: str,
        segment_id: str,
        rating: str | None = None,
        correction: str | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        call = self._c_feedback(translation_id, segment_id, rating, correction, comment, idempotency_key)
        return self._send(call)

    def create_comparison(
        self,
        translation_id: str,
        segment_id: str,
        variants: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Comparison:
        """Two variants of one stored segment, in random order. ``variants`` names two of ``"current"``,
        ``"base"``, ``"base:sample"``, ``"<adapter>"``, ``"<adapter>@<version>"``; omitted, the server picks."""
        body = _comparison_body(translation_id, segment_id, variants)
        return self._send(self._c_create_comparison(body, idempotency_key))  # type: ignore[no-any-return]

    def choose(self, comparison_id: str, choice: str, idempotency_key: str | None = None) -> JSON:
        return self._send(self._c_choose(comparison_id, choice, idempotency_key))


class AsyncClient(_Base):
    """Asynchronous client with the same methods as ``Client`` (``async with AsyncClient(url) as c: ...``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, admin_key=admin_key, timeout=timeout)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport or httpx.AsyncHTTPTransport(retries=1),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    close = aclose

    async def _send(self, call: _Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, json=call.body, headers=call.headers)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        return call.parse(_decode(response))

    async def _get(self, path: str) -> Any:
        return await self._send(_Call("GET", path, _identity))

    async def translate(
        self, markdown: str, *, adapter: str | None = None, glossary: GlossaryLike | None = None, output: str = "zh"
    ) -> TranslateResult:
        return await self._send(self._c_translate(markdown, adapter, glossary, output))

    async def submit_job(
        self, markdown: str, *, adapter: str | None = None, glossary: GlossaryLike | None = None, output: str = "zh"
    ) -> str:
        return await self._send(self._c_submit_job(markdown, adapter, glossary, output))

    async def job(self, job_id: str) -> Job:
        return await self._send(self._c_job(job_id))

    async def job_events(self, job_id: str) -> AsyncIterator[JSON]:
        headers = {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(None, connect=self._timeout.connect)
        try:
            async with self._http.stream(
                "GET", f"/jobs/{_seg(job_id)}/events", headers=headers, timeout=timeout
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error_from(resp)
                parser = SseParser()
                async for line in resp.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
                tail = parser.feed("")
                if tail is not None:
                    yield tail
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    async def wait_job(
        self,
        job_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        use_events: bool = True,
        poll_interval: float = 0.5,
    ) -> TranslateResult:
        job = await self.job(job_id)
        done, total = job.done, job.total
        if on_progress:
            on_progress(done, total, None)
        if not (job.finished or job.failed) and use_events:
            try:
                async for event in self.job_events(job_id):
                    done, total = _progress_of(event, done, total)
                    if on_progress:
                        on_progress(done, total, event)
                    if _is_terminal(event):
                        break
            except ApiError as exc:
                if exc.status not in _NO_STREAM_STATUSES:
                    raise
            except ServerUnavailable:
                pass
        while True:
            job = await self.job(job_id)
            if on_progress and (job.done, job.total) != (done, total) and job.total:
                done, total = job.done, job.total
                on_progress(done, total, None)
            if job.finished or job.failed:
                return _result_of(job)
            await asyncio.sleep(poll_interval)

    async def health(self) -> Health:
        return await self._send(_Call("GET", "/health", Health.from_json))

    async def adapters(self) -> list[Any]:
        return await self._send(_Call("GET", "/adapters", _as_list))

    async def translation(self, translation_id: str) -> JSON:
        return await self._get(f"/translations/{_seg(translation_id)}")  # type: ignore[no-any-return]

    async def feedback_stats(self) -> JSON:
        return await self._get("/stats/feedback")  # type: ignore[no-any-return]

    async def register_adapter_version(self, name: str, folder: str) -> JSON:
        return await self._send(_Call("POST", f"/adapters/{_seg(name)}/versions", _identity, {"folder": folder}))

    async def activate_adapter(self, name: str, version: int) -> JSON:
        return await self._send(_Call("POST", f"/adapters/{_seg(name)}/activate", _identity, {"version": version}))

    async def rollback_adapter(self, name: str) -> JSON:
        return await self._send(_Call("POST", f"/adapters/{_seg(name)}/rollback", _identity, {}))

    async def delete_adapter_version(self, name: str, version: int) -> JSON:
        return await self._send(_Call("DELETE", f"/adapters/{_seg(name)}/versions/{version}", _identity))

    async def feedback(
        self,
        translation_id: str,
        segment_id: str,
        rating: str | None = None,
        correction: str | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        call = self._c_feedback(translation_id, segment_id, rating, correction, comment, idempotency_key)
        return await self._send(call)

    async def create_comparison(
        self,
        translation_id: str,
        segment_id: str,
        variants: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Comparison:
        """Two variants of one stored segment, in random order. ``variants`` names two of ``"current"``,
        ``"base"``, ``"base:sample"``, ``"<adapter>"``, ``"<adapter>@<version>"``; omitted, the server picks."""
        body = _comparison_body(translation_id, segment_id, variants)
        return await self._send(self._c_create_comparison(body, idempotency_key))

    async def choose(self, comparison_id: str, choice: str, idempotency_key: str | None = None) -> JSON:
        return await self._send(self._c_choose(comparison_id, choice, idempotency_key))
