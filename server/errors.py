"""One exception hierarchy for every part, mapped to JSON ``{"error": code, "detail": ...}`` in one place.

Parts raise :class:`PapertransError` subclasses; :func:`exception_handlers` is the single mapping the app installs.
Litestar's own errors (validation, oversized bodies, unknown routes) are rewritten to the same shape, so a client
only ever has to read ``error`` to know what went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from papertrans.server.engine import AdapterLoadError, EngineError, EngineUnavailableError
from papertrans.server.store import RecordNotFound, StoreConflict, StoreError

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PapertransError",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "exception_handlers",
]

log = logging.getLogger(__name__)


class PapertransError(Exception):
    """Base error: a machine-readable ``code``, a human ``detail`` and the HTTP status it maps to."""

    status_code: int = 400
    default_code: str = "bad_request"

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


class BadRequest(PapertransError):
    status_code = 400
    default_code = "bad_request"


class Unauthorized(PapertransError):
    status_code = 401
    default_code = "unauthorized"


class Forbidden(PapertransError):
    status_code = 403
    default_code = "forbidden"


class NotFound(PapertransError):
    status_code = 404
    default_code = "not_found"


class Conflict(PapertransError):
    status_code = 409
    default_code = "conflict"


class PayloadTooLarge(PapertransError):
    status_code = 413
    default_code = "payload_too_large"


class Unprocessable(PapertransError):
    status_code = 422
    default_code = "unprocessable"


class TooManyRequests(PapertransError):
    """This client is over one of its limits; ``retry_after`` (seconds) becomes a ``Retry-After`` header."""

    status_code = 429
    default_code = "too_many_requests"


class ServiceUnavailable(PapertransError):
    """The engine is not (yet) able to serve; clients may retry later."""

    status_code = 503
    default_code = "service_unavailable"


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


def _engine(request: Request[Any, Any, Any], exc: EngineError) -> Response[dict[str, Any]]:
    """Engine errors (server.engine.protocol) -> HTTP: the one place they are mapped."""
    err: PapertransError
    if isinstance(exc, EngineUnavailableError):
        # The engine is closed or its core process died: fail fast; /health says so and the server exits for its
        # supervisor (see server.app's watchdog).
        log.error("engine unavailable: %s", exc)
        err = ServiceUnavailable("engine_unavailable", f"the translation engine is not running: {exc}", retry_after=10)
    elif isinstance(exc, AdapterLoadError):
        err = Unprocessable("adapter_load_failed", f"engine could not load the adapter: {exc}")
    else:
        log.error("engine error: %s", exc)
        err = ServiceUnavailable("engine_error", f"the engine failed the request: {exc}", retry_after=1)
    return _papertrans(request, err)


def _store(request: Request[Any, Any, Any], exc: StoreError) -> Response[dict[str, Any]]:
    """Store domain errors (server.store.errors) -> HTTP: the store itself knows nothing of HTTP."""
    err: PapertransError
    if isinstance(exc, RecordNotFound):
        err = NotFound(exc.code, exc.detail)
    elif isinstance(exc, StoreConflict):
        err = Conflict(exc.code, exc.detail)
    else:
        err = BadRequest(exc.code, exc.detail)
    return _papertrans(request, err)


def _store_down(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # The database does not answer (connection refused/lost, file unavailable, pool exhausted): nothing was
    # acknowledged, so the client may retry the same request (with its Idempotency-Key) later.
    log.error("store unavailable: %s: %s", type(exc).__name__, exc)
    err = ServiceUnavailable("store_unavailable", "the feedback store is not reachable; retry later", retry_after=5)
    return _papertrans(_, err)


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
        EngineError: _engine,
        StoreError: _store,
        OperationalError: _store_down,
        InterfaceError: _store_down,
        PoolTimeout: _store_down,
        ConnectionError: _store_down,
        UnicodeDecodeError: _bad_encoding,
        RecursionError: _too_deep,
        ValidationException: _validation,
        HTTPException: _http,
        Exception: _unexpected,
    }
