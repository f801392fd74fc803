"""Bad input gets a 4xx with a machine-readable ``error`` code, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import ADMIN, AppClient, serve

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_body"),
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_request"),
        (b'{"markdown": 3}', "invalid_request"),
        (b'{"glossary": []}', "invalid_request"),
        (b'{"markdown": "   "}', "empty_document"),
        (b'{"markdown": "x", "output": "fr"}', "invalid_request"),
        (b'{"markdown": "x", "glossary": "attention=zhuyili"}', "invalid_request"),
        (b'{"markdown": "x", "glossary": [{"source": "attention"}]}', "invalid_request"),
        (b'{"markdown": "x", "glossary": [{"source": "", "target": "t"}]}', "invalid_request"),
        (b'{"markdown": "x", "glossary": [{"source": "  ", "target": "t"}]}', "invalid_glossary"),
        (
            b'{"markdown": "x", "glossary": [{"source": "a", "target": "t"}, {"source": "A", "target": "u"}]}',
            "invalid_glossary",
        ),
        (b'{"markdown": "x", "adapter": 5}', "invalid_request"),
    ],
)
async def test_bad_translate_bodies(client: AppClient, body: bytes, code: str) -> None:
    for path in ("/translate", "/jobs"):
        r = await client.post(path, content=body, headers=JSON)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] == code, (path, r.text)
        assert r.json()["detail"]


async def test_unknown_adapter_is_404(client: AppClient) -> None:
    for path in ("/translate", "/jobs"):
        r = await client.post(path, json={"markdown": "Some text.", "adapter": "nope"})
        assert r.status_code == 404 and r.json()["error"] == "unknown_adapter"
    r = await client.post("/translate", json={"markdown": "Some text.", "adapter": "nope@x"})
    assert r.status_code == 404


async def test_document_over_the_limit_is_413(app_factory: Any) -> None:
    async with serve(app_factory(translate={"max_document_bytes": 1000}, max_body_bytes=5000)) as c:
        r = await c.post("/translate", json={"markdown": "word " * 300})  # 1.5 kB document, small body
        assert r.status_code == 413 and r.json()["error"] == "document_too_large"
        r = await c.post("/translate", json={"markdown": "word " * 2000})  # body over the request limit
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        r = await c.post("/jobs", json={"markdown": "word " * 300})
        assert r.status_code == 413


async def test_admin_key_401_403(client: AppClient) -> None:
    r = await client.get("/adapters")
    assert r.status_code == 401 and r.json()["error"] == "admin_key_missing"
    r = await client.get("/adapters", headers={"X-Admin-Key": "wrong"})
    assert r.status_code == 403 and r.json()["error"] == "admin_key_invalid"
    r = await client.post("/adapters/a/versions", json={"folder": "x"}, headers={"X-Admin-Key": "wrong"})
    assert r.status_code == 403
    assert (await client.get("/adapters", headers=ADMIN)).status_code == 200


async def test_admin_disabled_without_configured_key(app_factory: Any) -> None:
    async with serve(app_factory(admin_key=None)) as c:
        r = await c.get("/adapters", headers={"X-Admin-Key": "anything"})
        assert r.status_code == 403 and r.json()["error"] == "admin_disabled"


async def test_unknown_route_and_job(client: AppClient) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await client.get("/jobs/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404 and r.json()["error"] == "unknown_job"
    r = await client.get("/jobs/..%2f..%2fetc")
    assert r.status_code == 404
    r = await client.get("/translate")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
