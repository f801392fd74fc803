"""Hostile documents through the whole server (issue 12): every shape of tests/protect/test_hostile.py, at 20k
characters, sent to /translate and /jobs is served (200/202) or refused with a 4xx within its limits — never a 5xx,
never a hang — and the server stays healthy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.protect.test_hostile import CASES
from tests.server.conftest import serve

SIZE = 20_000


@pytest.mark.parametrize("name", sorted(CASES))
async def test_hostile_document_is_served_or_refused(app_factory: Any, name: str) -> None:
    text = CASES[name][:SIZE]
    body = json.dumps({"markdown": text}).encode()  # ASCII JSON: lone surrogates travel as \ud800 escapes
    headers = {"content-type": "application/json"}
    async with serve(app_factory(limits={"max_segments": 300})) as c:
        r = await asyncio.wait_for(c.post("/translate", content=body, headers=headers), timeout=60)
        assert r.status_code in (200, 400, 413), (r.status_code, r.text[:300])
        if r.status_code == 200:
            assert all(s["status"] in ("ok", "retried", "fallback") for s in r.json()["segments"])
        else:
            assert r.json()["error"] in ("too_many_segments", "empty_document", "invalid_json"), r.text[:300]
        j = await c.post("/jobs", content=body, headers=headers)
        assert j.status_code in (202, 400, 413), (j.status_code, j.text[:300])
        assert (await c.get("/health")).json()["status"] == "ok"
