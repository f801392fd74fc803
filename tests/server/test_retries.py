"""Validation failures are retried (stricter prompt, then sentences) and end as fallback with reasons."""

from __future__ import annotations

from typing import Any

from papertrans.server.engine.fake import FakeEngine
from tests.server._preserve import assert_document_intact
from tests.server.conftest import serve

DOC = "A good paragraph with $a+b$.\n\nThe BROKEN paragraph has $x$ inside. It has two sentences with `code`.\n"


def _seg(body: dict[str, Any], word: str) -> dict[str, Any]:
    return next(s for s in body["segments"] if word in s["source"])


async def test_first_failure_is_retried(app_factory: Any) -> None:
    engine = FakeEngine(break_when=lambda src, attempt: "BROKEN" in src and attempt == 0)
    async with serve(app_factory(engine)) as c:
        body = (await c.post("/translate", json={"markdown": DOC})).json()
    seg = _seg(body, "BROKEN")
    assert seg["status"] == "retried" and "empty_output" in seg["reasons"]
    assert _seg(body, "good")["status"] == "ok"
    assert body["stats"]["fallbacks"] == 0 and body["stats"]["retries"] == 1
    assert_document_intact(DOC, body)


async def test_smaller_pieces_after_the_strict_retry(app_factory: Any) -> None:
    # the whole segment fails twice; its sentences (new sources for the fake) then succeed
    engine = FakeEngine(break_when=lambda src, attempt: "BROKEN" in src and "sentences" in src)
    async with serve(app_factory(engine)) as c:
        body = (await c.post("/translate", json={"markdown": DOC})).json()
    assert _seg(body, "BROKEN")["status"] == "retried"
    assert body["stats"]["retries"] == 2
    assert any(r.source.startswith("It has two sentences") for r in engine.requests)


async def test_persistent_failure_falls_back_to_source(app_factory: Any) -> None:
    engine = FakeEngine(break_when=lambda src, attempt: "BROKEN" in src or "two sentences" in src)
    async with serve(app_factory(engine)) as c:
        body = (await c.post("/translate", json={"markdown": DOC})).json()
        metrics = (await c.get("/metrics")).text
    seg = _seg(body, "BROKEN")
    assert seg["status"] == "fallback" and "empty_output" in seg["reasons"]
    assert seg["translation"] == seg["source"]
    assert "The BROKEN paragraph has $x$ inside." in body["markdown"]  # source kept byte for byte
    assert body["stats"]["fallbacks"] == 1
    assert_document_intact(DOC, body)
    assert "papertrans_fallbacks_total 1.0" in metrics
    assert 'papertrans_retries_total{kind="strict"} 1.0' in metrics


async def test_engine_errors_become_fallbacks_not_500(app_factory: Any) -> None:
    class Exploding(FakeEngine):
        async def generate(self, prompt: str, options: Any, *, adapter: Any = None, request_id: str) -> Any:
            raise RuntimeError("engine died")

    async with serve(app_factory(Exploding())) as c:
        r = await c.post("/translate", json={"markdown": "One paragraph here."})
    assert r.status_code == 200
    seg = r.json()["segments"][0]
    assert seg["status"] == "fallback" and "engine_error" in seg["reasons"]


async def test_max_retries_zero_means_no_retry(app_factory: Any) -> None:
    engine = FakeEngine(break_when=lambda src, attempt: "BROKEN" in src and attempt == 0)
    async with serve(app_factory(engine, translate={"max_retries": 0})) as c:
        body = (await c.post("/translate", json={"markdown": DOC})).json()
    assert _seg(body, "BROKEN")["status"] == "fallback"
    assert body["stats"]["retries"] == 0
