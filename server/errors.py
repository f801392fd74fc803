"""The HTTP edge: every error becomes JSON ``{"error": code, "detail": ...}`` with its status, here and only here.

Two kinds of errors reach the app's handlers:

- the domain errors, which know nothing of HTTP: the server's own tree (:mod:`server.domain_errors`: adapter,
  pipeline and job errors), the engine's (:class:`server.engine.EngineError` and below) and the store's
  (:class:`server.store.StoreError` and below, :class:`server.store.StoreUnavailable` when the database does not
  answer). :data:`DOMAIN_HTTP` is the one table from domain class to HTTP status (the nearest class of an error's MRO
  wins);
- the HTTP errors of the routes layer (``server/routes/``, ``access.py``, ``limits.py``): :class:`PapertransError`
  and its subclasses, which carry their status themselves. Domain code never raises them.

Litestar's own errors (validation, oversized bodies, unknown routes) are rewritten to the same shape, so a client
only ever has to read ``error`` to know what went wrong. :func:`exception_handlers` is the mapping the app installs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from papertrans.server.domain_errors import (
    AdapterConflict,
    AdapterNotFound,
    AdaptersUnsupported,
    DocumentTooLarge,
    DomainError,
    InvalidAdapterRequest,
    InvalidDocument,
    JobNotFound,
    UnusableAdapter,
)
from papertrans.server.engine import AdapterLoadError, EngineError, EngineUnavailableError
from papertrans.server.store import RecordNotFound, StoreConflict, StoreError, StoreUnavailable

__all__ = [
    "DOMAIN_HTTP",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "HttpAnswer",
    "NotFound",
    "PapertransError",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "answer_for",
    "exception_handlers",
]

log = logging.getLogger(__name__)


class PapertransError(Exception):
    """Base of the routes layer's HTTP errors: a machine-readable ``code``, a human ``detail`` and the status."""

    status_code: int = 400
    default_code: str = "bad_request"

    def __init_subclass__(cls, *, status: int = 0, code: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status_code = status or cls.status_code
        cls.default_code = code or cls.default_code

    def __init__(self, code: str | None = None, detail: str = "", status_code: int | None = None, **extra: Any) -> None:
        self.code = code or self.default_code
        self.detail = detail or self.code.replace("_", " ")
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra
        super().__init__(f"{self.code}: {self.detail}")

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str]:
        """Response headers (``Retry-After`` when the error carries ``retry_after``)."""
        retry = self.extra.get("retry_after")
        return {"Retry-After": str(int(retry))} if retry is not None else {}


class BadRequest(PapertransError, status=400, code="bad_request"):
    """The request is malformed or names something in a form the server refuses."""


class Unauthorized(PapertransError, status=401, code="unauthorized"):
    """No key, or a key that is not valid."""


class Forbidden(PapertransError, status=403, code="forbidden"):
    """A key that does not open this endpoint."""


class NotFound(PapertransError, status=404, code="not_found"):
    """Nothing at that path."""


class Conflict(PapertransError, status=409, code="conflict"):
    """The request contradicts the server's state."""


class PayloadTooLarge(PapertransError, status=413, code="payload_too_large"):
    """A body, document or field over its limit (``limit`` in the body)."""


class Unprocessable(PapertransError, status=422, code="unprocessable"):
    """Well-formed, but its content cannot be used."""


class TooManyRequests(PapertransError, status=429, code="too_many_requests"):
    """This client is over one of its limits; ``retry_after`` (seconds) becomes a ``Retry-After`` header."""


class ServiceUnavailable(PapertransError, status=503, code="service_unavailable"):
    """The server cannot serve this now (busy, or a part missing); clients may retry later."""


# Litestar's own HTTP errors → our codes (anything else becomes "http_<status>").
_HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    503: "service_unavailable",
}


def _json(body: dict[str, Any], status: int) -> Response[dict[str, Any]]:
    return Response(content=body, status_code=status, media_type=MediaType.JSON)


def _papertrans(_: Request[Any, Any, Any], exc: PapertransError) -> Response[dict[str, Any]]:
    return Response(
        content=exc.to_json(), status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers()
    )


def _missing_body(request: Request[Any, Any, Any]) -> bool:
    return request.method in ("POST", "PUT", "PATCH") and request.headers.get("content-length", "") == "0"


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    # Litestar raises this for bodies, paths and queries that do not match the declared types.
    if _missing_body(request):
        return _json({"error": "empty_body", "detail": "the request needs a JSON body"}, 400)
    body: dict[str, Any] = {"error": "invalid_request", "detail": str(exc.detail)}
    if exc.extra:
        body["fields"] = exc.extra
    return _json(body, 400)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:
        log.error("server error: %s", exc.detail)
    code = _HTTP_CODES.get(status, f"http_{status}")
    if isinstance(exc.__cause__, SerializationException):  # the body is not JSON at all
        code = "invalid_json"
    return _json({"error": code, "detail": str(exc.detail)}, status)


@dataclass(frozen=True)
class HttpAnswer:
    """How the edge answers one domain error class."""

    status: int
    retry_after: int | None = None  # seconds: a Retry-After header and a ``retry_after`` field of the body
    code: str | None = None  # for errors without a code of their own (the engine's): the code to answer
    detail: str = ""  # ... and its detail; ``{exc}`` stands for the error's message
    log: bool = False  # an operator must see it: the server, not the client, is in trouble


#: Domain error class -> HTTP: the one table. An error takes the row of the nearest class in its MRO.
DOMAIN_HTTP: Mapping[type[Exception], HttpAnswer] = {
    AdapterNotFound: HttpAnswer(404),
    InvalidAdapterRequest: HttpAnswer(400),
    UnusableAdapter: HttpAnswer(422),
    AdaptersUnsupported: HttpAnswer(422),
    AdapterConflict: HttpAnswer(409),
    InvalidDocument: HttpAnswer(400),
    DocumentTooLarge: HttpAnswer(413),
    JobNotFound: HttpAnswer(404),
    DomainError: HttpAnswer(400),
    RecordNotFound: HttpAnswer(404),
    StoreConflict: HttpAnswer(409),
    # nothing was acknowledged, so the client may retry the same request (with its Idempotency-Key) later
    StoreUnavailable: HttpAnswer(503, retry_after=5, log=True),
    StoreError: HttpAnswer(400),
    # the engine is closed or its core process died: fail fast; /health says so and the server exits for its
    # supervisor (see server.app's watchdog)
    EngineUnavailableError: HttpAnswer(
        503, 10, "engine_unavailable", "the translation engine is not running: {exc}", log=True
    ),
    AdapterLoadError: HttpAnswer(422, None, "adapter_load_failed", "engine could not load the adapter: {exc}"),
    EngineError: HttpAnswer(503, 1, "engine_error", "the engine failed the request: {exc}", log=True),
}


def answer_for(exc: Exception) -> HttpAnswer | None:
    """The table's row for ``exc`` (None: not a domain error)."""
    for cls in type(exc).__mro__:
        row = DOMAIN_HTTP.get(cls)
        if row is not None:
            return row
    return None


def _domain(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    row = answer_for(exc)
    if row is None:  # not reached: only the table's classes are routed here
        return _unexpected(_, exc)
    code = row.code or str(getattr(exc, "code", "") or "error")
    detail = row.detail.format(exc=exc) if row.detail else str(getattr(exc, "detail", "") or exc)
    body: dict[str, Any] = {"error": code, "detail": detail, **dict(getattr(exc, "extra", None) or {})}
    headers: dict[str, str] = {}
    if row.retry_after is not None:
        body["retry_after"] = row.retry_after
        headers["Retry-After"] = str(row.retry_after)
    if row.log:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        log.error("%s: %s: %s", code, type(cause).__name__, cause)
    return Response(content=body, status_code=row.status, media_type=MediaType.JSON, headers=headers)


def _store_down(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # A backstop: a SQLAlchemy connection error from a store path that did not wrap it in StoreUnavailable.
    wrapped = StoreUnavailable("store_unavailable", "the feedback store is not reachable; retry later")
    wrapped.__cause__ = exc
    return _domain(request, wrapped)


def _bad_encoding(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    # A body that is not UTF-8 (the JSON decoder raises before any handler runs): the client's fault, not ours.
    return _json({"error": "invalid_encoding", "detail": f"the body is not valid UTF-8: {exc.reason}"}, 400)


def _too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    # Only input nests deeply enough for this (a JSON body of thousands of "[" fails in the decoder): refuse it.
    log.warning("refused a too deeply nested input: %s", exc)
    return _json({"error": "too_deeply_nested", "detail": "the input is nested too deeply"}, 400)


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", exc_info=exc)
    return _json({"error": "internal_error", "detail": "unexpected server error"}, HTTP_500_INTERNAL_SERVER_ERROR)


def exception_handlers() -> dict[type[Exception], Callable[..., Response[Any]]]:
    """The one mapping from exceptions to HTTP responses, installed by ``create_app``."""
    from sqlalchemy.exc import InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return {
        PapertransError: _papertrans,
        **dict.fromkeys(DOMAIN_HTTP, _domain),
        # only SQLAlchemy's own connection errors: a built-in ConnectionError may come from anywhere (the store wraps
        # its own in StoreUnavailable)
        OperationalError: _store_down,
        InterfaceError: _store_down,
        PoolTimeout: _store_down,
        UnicodeDecodeError: _bad_encoding,
        RecursionError: _too_deep,
        ValidationException: _validation,
        HTTPException: _http,
        Exception: _unexpected,
    }
