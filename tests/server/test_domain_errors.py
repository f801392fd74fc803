"""Domain errors reach HTTP through server/errors.py's one table; only the store's own connection failures are
``store_unavailable``."""

from __future__ import annotations

import inspect
from pathlib import Path

import httpx
import pytest
from litestar import Litestar, get

from papertrans.server import domain_errors
from papertrans.server.engine import AdapterLoadError, EngineClosedError, EngineError
from papertrans.server.errors import DOMAIN_HTTP, answer_for, exception_handlers
from papertrans.server.store import RecordNotFound, Store, StoreConflict, StoreUnavailable

RAISED: list[BaseException] = []


@get("/raise")
async def _raise() -> None:
    raise RAISED[0]


async def _answer(exc: BaseException) -> httpx.Response:
    RAISED[:] = [exc]
    app = Litestar(route_handlers=[_raise], exception_handlers=exception_handlers())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/raise")


def test_every_domain_error_class_has_a_row() -> None:
    classes = [c for _, c in inspect.getmembers(domain_errors, inspect.isclass) if issubclass(c, Exception)]
    assert classes and all(answer_for(c("some_code")) is not None for c in classes)
    assert all(row.status >= 400 for row in DOMAIN_HTTP.values())


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (domain_errors.AdapterNotFound("unknown_adapter", "no adapter named 'x'"), 404, "unknown_adapter"),
        (domain_errors.InvalidAdapterRequest("folder_outside_store", "outside"), 400, "folder_outside_store"),
        (domain_errors.UnusableAdapter("not_an_adapter", "no config"), 422, "not_an_adapter"),
        (domain_errors.AdaptersUnsupported("adapters_unsupported", "no LoRA here"), 422, "adapters_unsupported"),
        (domain_errors.AdapterConflict("version_active", "active"), 409, "version_active"),
        (domain_errors.InvalidDocument("invalid_glossary", "bad"), 400, "invalid_glossary"),
        (domain_errors.JobNotFound("unknown_job", "no job"), 404, "unknown_job"),
        (RecordNotFound("unknown_translation", "no translation"), 404, "unknown_translation"),
        (StoreConflict("already_chosen", "chosen"), 409, "already_chosen"),
        (AdapterLoadError("rank too large"), 422, "adapter_load_failed"),
        (EngineError("one request failed"), 503, "engine_error"),
    ],
)
async def test_domain_error_status_and_code(exc: Exception, status: int, code: str) -> None:
    r = await _answer(exc)
    assert r.status_code == status and r.json()["error"] == code and r.json()["detail"], r.text


async def test_extra_fields_and_retry_after_reach_the_client() -> None:
    r = await _answer(domain_errors.DocumentTooLarge("too_many_segments", "9 segments > 4", limit=4))
    assert r.status_code == 413 and r.json() == {"error": "too_many_segments", "detail": "9 segments > 4", "limit": 4}
    r = await _answer(EngineClosedError("engine core died"))
    assert r.status_code == 503 and r.json()["error"] == "engine_unavailable" and "engine core died" in r.json()["detail"]
    assert r.headers["retry-after"] == "10" and r.json()["retry_after"] == 10
    r = await _answer(StoreUnavailable("store_unavailable", "the feedback store is not reachable; retry later"))
    assert r.status_code == 503 and r.json()["error"] == "store_unavailable" and r.headers["retry-after"] == "5"


async def test_a_bare_connection_error_is_not_the_store() -> None:
    r = await _answer(ConnectionRefusedError("some other service"))
    assert r.status_code == 500 and r.json()["error"] == "internal_error"


async def test_the_store_reports_a_database_that_does_not_answer(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'store.db'}")
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.get_translation("t-1")
        assert info.value.code == "store_unavailable" and info.value.__cause__ is not None
    finally:
        await store.close()
