"""The Python client of the papertrans HTTP API.

``AsyncClient`` is the implementation. ``Client`` runs the very same coroutines on a private event loop (one
``asyncio.Runner`` per client), so the two have the same methods, results and errors and cannot drift apart.
Connection failures become ``ServerUnavailable``; error statuses become ``ApiError`` carrying the server's
machine-readable ``{"error": code, "detail": ...}``; an answer without the fields the server always sends is a
``ClientError`` (it did not come from a papertrans server).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator, Mapping
from typing import Any, Concatenate, ParamSpec, Self, TypeVar
from urllib.parse import quote

import httpx

from ..errors import ApiError, ClientError, JobFailed, ServerUnavailable
from ._sse import SseParser
from ._types import Comparison, GlossaryLike, Health, Job, TranslateResult, glossary_payload

__all__ = ["AsyncClient", "Client", "ProgressCallback"]

T = TypeVar("T")
P = ParamSpec("P")
JSON = dict[str, Any]
# Called with (done, total, event-or-None) whenever a job makes progress.
ProgressCallback = Callable[[int, int, "JSON | None"], None]

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)  # a whole-document /translate on CPU takes minutes
# A job's event stream (server/jobs_folder.py, server/jobs_db.py): "started", one "segment" per finished segment
# ("resumed" when another replica takes over a job), then "done" or "error".
_LAST_EVENTS = ("done", "error")


def _seg(value: object) -> str:
    return quote(str(value), safe="@")


def _identity(data: Any) -> Any:
    return data


def _job_id(data: Any) -> str:
    return str(data["id"])  # 202 {"id", "status"}


def _adapter_list(data: Any) -> list[JSON]:
    if not isinstance(data, list):
        raise TypeError("not a list")
    return [dict(entry) for entry in data]


def _timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(timeout, connect=min(timeout, 5.0))


#: what ``keep`` may name: the parts of a paper the server keeps as they are (``keep_<part>`` in the request body)
KEEP_PARTS = ("references", "authors", "captions")


def _translate_body(
    markdown: str,
    adapter: str | None,
    glossary: GlossaryLike | None,
    output: str,
    keep: Mapping[str, bool] | None = None,
) -> JSON:
    body: JSON = {"markdown": markdown, "output": output}
    for part, value in (keep or {}).items():
        if part not in KEEP_PARTS:
            raise ValueError(f"keep: {part!r} is not one of {', '.join(KEEP_PARTS)}")
        body[f"keep_{part}"] = bool(value)
    if adapter:
        body["adapter"] = adapter
    entries = glossary_payload(glossary)
    if entries:
        body["glossary"] = entries
    return body


def _error_from(response: httpx.Response) -> ApiError:
    """The server's ``{"error": code, "detail": ...}``; anything else (a proxy's page) becomes ``http_<status>``."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        return ApiError(response.status_code, body["error"], str(body.get("detail") or ""), body)
    return ApiError(response.status_code, f"http_{response.status_code}", str(body)[:500], body)


def _decode(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise _error_from(response)
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise ClientError(f"{response.request.method} {response.request.url.path}: answer is not JSON") from exc


def _count(value: object, previous: int) -> int:
    return value if isinstance(value, int) else previous


def _result_of(job: Job) -> TranslateResult:
    if job.failed:
        raise JobFailed(job.id, job.error or job.status)
    if job.result is None:
        raise ClientError(f"job {job.id} is {job.status} but carries no result")
    return job.result


class AsyncClient:
    """The asyncio client (``async with AsyncClient(url) as c: ...``); ``Client`` is its blocking twin."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "papertrans-client", "Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        if admin_key:
            headers["X-Admin-Key"] = admin_key
        self._timeout = _timeout(timeout)
        # Transport retries only repeat failed *connects* (nothing was sent), so they are safe for every method.
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
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

    def _unavailable(self, exc: httpx.TransportError) -> ServerUnavailable:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ServerUnavailable(self.base_url, reason)

    async def _request(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        body: object | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        try:
            response = await self._http.request(method, path, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        data = _decode(response)
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClientError(f"unexpected answer to {method} {path}: {type(exc).__name__}: {exc}") from exc

    # --- translation ---------------------------------------------------------------------------------------
    async def translate(
        self,
        markdown: str,
        *,
        adapter: str | None = None,
        glossary: GlossaryLike | None = None,
        output: str = "zh",
        evaluation: bool = False,
        keep: Mapping[str, bool] | None = None,
    ) -> TranslateResult:
        """Translate a whole document in one request (``POST /translate``). ``evaluation`` (needs the admin key):
        a measurement, e.g. the promotion gate's: no translation memory, nothing recorded in the store."""
        # keep: what stays as it is for this request, e.g. {"references": False} translates the reference list
        # (absent parts: the server's translate.keep_* settings)
        body = _translate_body(markdown, adapter, glossary, output, keep)
        if evaluation:
            body["evaluation"] = True
        return await self._request("POST", "/translate", TranslateResult.from_json, body)

    async def submit_job(
        self,
        markdown: str,
        *,
        adapter: str | None = None,
        glossary: GlossaryLike | None = None,
        output: str = "zh",
        keep: Mapping[str, bool] | None = None,
    ) -> str:
        """Start a translation job (``POST /jobs``, same body as ``translate``); returns its id."""
        body = _translate_body(markdown, adapter, glossary, output, keep)
        return await self._request("POST", "/jobs", _job_id, body)

    async def job(self, job_id: str) -> Job:
        """A job's status, progress and (when done) result (``GET /jobs/{id}``)."""
        return await self._request("GET", f"/jobs/{_seg(job_id)}", Job.from_json)

    async def job_events(self, job_id: str) -> AsyncGenerator[JSON, None]:
        """A job's server-sent events, one dict per event (the JSON ``data`` plus ``event`` and ``_id``), from the
        first one; the stream ends after ``done`` or ``error``."""
        headers = {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(None, connect=self._timeout.connect)  # between events a job may think for minutes
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
        """Follow a job to its end (its event stream, else polling) and return its result.

        Raises ``JobFailed`` when the job fails and ``ServerUnavailable`` when the server goes away meanwhile.
        """
        job = await self.job(job_id)
        reported = (job.done, job.total)
        if on_progress:
            on_progress(job.done, job.total, None)
        if use_events and not job.ended:
            try:
                reported = await self._follow(job_id, reported, on_progress)
            except ServerUnavailable:
                pass  # a dropped stream is not a dead server: the polling below finds out which
            job = await self.job(job_id)
        while not job.ended:
            await asyncio.sleep(poll_interval)
            job = await self.job(job_id)
            if on_progress and (job.done, job.total) != reported:
                reported = (job.done, job.total)
                on_progress(job.done, job.total, None)
        return _result_of(job)

    async def _follow(
        self, job_id: str, progress: tuple[int, int], on_progress: ProgressCallback | None
    ) -> tuple[int, int]:
        done, total = progress
        async for event in self.job_events(job_id):
            # "started" carries total, "segment" and "resumed" done and total (total may be null before the job has
            # cut its document), "done"/"error" neither.
            done, total = _count(event.get("done"), done), _count(event.get("total"), total)
            if on_progress:
                on_progress(done, total, event)
            if event.get("type") in _LAST_EVENTS:
                break
        return done, total

    # --- reads ---------------------------------------------------------------------------------------------
    async def health(self) -> Health:
        """Engine state, model, active adapters, store (``GET /health``)."""
        return await self._request("GET", "/health", Health.from_json)

    async def adapters(self) -> list[JSON]:
        """Every adapter with its versions and active version (``GET /adapters``, needs the admin key)."""
        return await self._request("GET", "/adapters", _adapter_list)

    async def translation(self, translation_id: str) -> JSON:
        """A stored translation with its segments (``GET /translations/{id}``)."""
        return await self._request("GET", f"/translations/{_seg(translation_id)}", dict)

    async def feedback_stats(self) -> JSON:
        """Feedback totals and per-adapter ratings, GSB win rates (``GET /stats/feedback``)."""
        return await self._request("GET", "/stats/feedback", dict)

    # --- adapter admin (X-Admin-Key) -----------------------------------------------------------------------
    async def register_adapter_version(self, name: str, folder: str) -> JSON:
        """Register (and load) a folder of the server's adapter store as a new version of ``name``."""
        return await self._request("POST", f"/adapters/{_seg(name)}/versions", dict, {"folder": folder})

    async def activate_adapter(self, name: str, version: int) -> JSON:
        return await self._request("POST", f"/adapters/{_seg(name)}/activate", dict, {"version": version})

    async def rollback_adapter(self, name: str) -> JSON:
        return await self._request("POST", f"/adapters/{_seg(name)}/rollback", dict, {})

    async def delete_adapter_version(self, name: str, version: int) -> JSON:
        return await self._request("DELETE", f"/adapters/{_seg(name)}/versions/{version}", dict)

    # --- translation memory (X-Admin-Key) ------------------------------------------------------------------
    async def _send(self, method: str, path: str, content: bytes | None, params: JSON | None) -> httpx.Response:
        try:
            response = await self._http.request(method, path, content=content, params=params,
                                                headers={"Content-Type": "application/x-tmx+xml"} if content else None)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    async def import_memory(self, tmx: bytes, *, origin: str | None = None) -> JSON:
        """Import a TMX file into the server's translation memory (``POST /memory/import``): ``{units, added,
        replaced, rejected_count, rejected: [{index, reason, detail}]}``; ``origin`` names the file in the entries."""
        response = await self._send("POST", "/memory/import", tmx, {"origin": origin} if origin else None)
        return dict(_decode(response))

    async def export_memory(self) -> bytes:
        """The server's translation memory as TMX 1.4b bytes (``GET /memory/export``)."""
        return (await self._send("GET", "/memory/export", None, None)).content

    # --- feedback ------------------------------------------------------------------------------------------
    async def feedback(
        self,
        translation_id: str,
        segment_id: str,
        rating: str | None = None,
        correction: str | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Thumbs up/down, a correction and/or a comment on one stored segment (``POST /feedback``)."""
        body: JSON = {"translation_id": translation_id, "segment_id": segment_id}
        for key, value in (("rating", rating), ("correction", correction), ("comment", comment)):
            if value is not None:
                body[key] = value
        # A key per logical write makes the client's own retries safe (the server deduplicates on it).
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return await self._request("POST", "/feedback", dict, body, headers)

    async def create_comparison(
        self,
        translation_id: str,
        segment_id: str,
        variants: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Comparison:
        """Two variants of one stored segment, in random order. ``variants`` names two of ``"current"``,
        ``"base"``, ``"base:sample"``, ``"<adapter>"``, ``"<adapter>@<version>"``; omitted, the server picks."""
        body: JSON = {"translation_id": translation_id, "segment_id": segment_id}
        if variants is not None:
            body["variants"] = list(variants)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self._request("POST", "/comparisons", Comparison.from_json, body, headers)

    async def choose(self, comparison_id: str, choice: str, idempotency_key: str | None = None) -> JSON:
        """Answer a comparison with ``a``, ``b`` or ``same``; the answer reveals which variant was which."""
        if choice not in ("a", "b", "same"):
            raise ValueError(f"choice must be 'a', 'b' or 'same', not {choice!r}")
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/comparisons/{_seg(comparison_id)}/choice"
        return await self._request("POST", path, dict, {"choice": choice}, headers)


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Client, P], T]:
    """``Client.x`` = ``AsyncClient.x`` run to completion on the client's own event loop."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._runner.run(method(self._async, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


async def _next_event(events: AsyncIterator[JSON]) -> JSON | None:
    return await anext(events, None)


class Client:
    """The blocking client: ``AsyncClient``'s methods run on a private event loop. Use it as a context manager
    (or call ``close()``), from one thread at a time and not from inside a running event loop (there, use
    ``AsyncClient``).

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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # A Runner (not asyncio.run per call) keeps one loop, so the connection pool survives between calls, and
        # turns Ctrl-C into a cancelled request plus KeyboardInterrupt.
        self._runner = asyncio.Runner()
        self._async = AsyncClient(base_url, api_key=api_key, admin_key=admin_key, timeout=timeout, transport=transport)
        self.base_url = self._async.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._runner.run(self._async.aclose())
        finally:
            self._runner.close()

    def job_events(self, job_id: str) -> Iterator[JSON]:
        """A job's server-sent events, one dict per event, until ``done`` or ``error``."""
        events = self._async.job_events(job_id)
        try:
            while (event := self._runner.run(_next_event(events))) is not None:
                yield event
        finally:
            self._runner.run(events.aclose())

    translate = _blocking(AsyncClient.translate)
    submit_job = _blocking(AsyncClient.submit_job)
    job = _blocking(AsyncClient.job)
    wait_job = _blocking(AsyncClient.wait_job)
    health = _blocking(AsyncClient.health)
    adapters = _blocking(AsyncClient.adapters)
    translation = _blocking(AsyncClient.translation)
    feedback_stats = _blocking(AsyncClient.feedback_stats)
    register_adapter_version = _blocking(AsyncClient.register_adapter_version)
    activate_adapter = _blocking(AsyncClient.activate_adapter)
    rollback_adapter = _blocking(AsyncClient.rollback_adapter)
    delete_adapter_version = _blocking(AsyncClient.delete_adapter_version)
    import_memory = _blocking(AsyncClient.import_memory)
    export_memory = _blocking(AsyncClient.export_memory)
    feedback = _blocking(AsyncClient.feedback)
    create_comparison = _blocking(AsyncClient.create_comparison)
    choose = _blocking(AsyncClient.choose)
