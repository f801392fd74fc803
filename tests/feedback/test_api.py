"""The feedback HTTP API: thumbs, corrections, comparisons, idempotency, keys, limits; every bad input is a 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from papertrans.server.store import Comparison, Feedback

from .conftest import make_record


async def _count(client: Any, model: Any) -> int:
    async with client.store.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _recorded(client: Any, **kw: Any) -> str:
    rec = make_record(**kw)
    await client.store.record_translation(rec)
    return rec.id


async def test_thumbs_and_comment_are_stored(app_client: Any) -> None:
    tid = await _recorded(app_client)
    r = await app_client.post("/feedback", json={"translation_id": tid, "segment_id": "s0", "rating": "up",
                                                 "comment": " good ", "who": "ana"})
    assert r.status_code == 201, r.text
    got = (await app_client.get(f"/translations/{tid}")).json()
    assert got["segments"][0]["feedback"][0] | {"id": 0, "created_at": ""} == {
        "id": 0, "rating": "up", "correction": None, "comment": "good", "created_at": ""}


async def test_correction_in_restored_form_is_stored_masked(app_client: Any) -> None:
    tid = await _recorded(app_client)
    text = "注意 $x$ 修正 :cite:`Bahdanau.2014`。"
    r = await app_client.post("/feedback", json={"translation_id": tid, "segment_id": "s1", "correction": text})
    assert r.status_code == 201, r.text
    async with app_client.store.read_session() as session:
        row = (await session.scalars(select(Feedback))).one()
    assert row.correction == text
    assert row.correction_masked == "注意 ⟦1⟧ 修正 ⟦2⟧。"


async def test_correction_dropping_a_placeholder_is_422(app_client: Any) -> None:
    tid = await _recorded(app_client)
    r = await app_client.post("/feedback", json={"translation_id": tid, "segment_id": "s0", "correction": "只有 $x$"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "placeholder_mismatch" and body["missing"] == [":cite:`Bahdanau.2014`"]
    assert await _count(app_client, Feedback) == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"translation_id": "nope", "segment_id": "s0", "rating": "up"}, 404, "unknown_translation"),
        ({"segment_id": "s9", "rating": "up"}, 404, "unknown_segment"),
        ({"segment_id": "s0"}, 400, "empty_feedback"),
        ({"segment_id": "s0", "rating": "meh"}, 400, "invalid_request"),
        ({"segment_id": "s0", "correction": "  "}, 400, "empty_correction"),
        ({"segment_id": "s0", "comment": "x" * 4001}, 413, "field_too_large"),
        ({"segment_id": "s0", "correction": "长" * 20001}, 413, "field_too_large"),
        ({"segment_id": "x" * 65, "rating": "up"}, 413, "field_too_large"),
    ],
)
async def test_bad_feedback_is_4xx(app_client: Any, body: dict[str, Any], status: int, code: str) -> None:
    tid = await _recorded(app_client)
    r = await app_client.post("/feedback", json={"translation_id": tid, **body})
    assert r.status_code == status, r.text
    assert r.json()["error"] == code
    assert await _count(app_client, Feedback) == 0


async def test_oversized_body_and_bad_json_are_4xx(app_client: Any) -> None:
    r = await app_client.post("/feedback", content=b"{" + b" " * (300 * 1024) + b"}",
                              headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = await app_client.post("/feedback", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] in ("invalid_json", "invalid_request")
    assert (await app_client.get("/translations/nope")).json()["error"] == "unknown_translation"


async def test_idempotency_key_replays_the_first_response(app_client: Any) -> None:
    tid = await _recorded(app_client)
    body = {"translation_id": tid, "segment_id": "s0", "rating": "down"}
    first = await app_client.post("/feedback", json=body, headers={"Idempotency-Key": "k-1"})
    again = await app_client.post("/feedback", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    other = await app_client.post("/feedback", json={**body, "rating": "up"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    assert await _count(app_client, Feedback) == 1
    await app_client.post("/feedback", json=body)  # without a key every call is a new row
    assert await _count(app_client, Feedback) == 2


async def test_api_keys_guard_writes_only(app_client: Any) -> None:
    app_client.app.state.settings.api_keys = ["secret-1"]
    tid = await _recorded(app_client)
    body = {"translation_id": tid, "segment_id": "s0", "rating": "up"}
    r = await app_client.post("/feedback", json=body)
    assert r.status_code == 401 and r.json()["error"] == "missing_api_key"
    r = await app_client.post("/feedback", json=body, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_api_key"
    r = await app_client.post("/comparisons/x/choice", json={"choice": "a"}, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401
    r = await app_client.post("/feedback", json=body, headers={"X-API-Key": "secret-1"})
    assert r.status_code == 201
    assert (await app_client.get(f"/translations/{tid}")).status_code == 200  # reads stay open
    async with app_client.store.read_session() as session:
        assert (await session.scalars(select(Feedback.who))).one().startswith("key:")


async def test_comparison_choice_and_stats(app_client: Any) -> None:
    tid = await _recorded(app_client, adapter="d2l", version=2)
    r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0"},
                              headers={"Idempotency-Key": "c-1"})
    assert r.status_code == 201, r.text
    cmp = r.json()
    assert {cmp["a"]["text"], cmp["b"]["text"]} >= {"注意力 $x$ 第0号 :cite:`Bahdanau.2014`。"}
    assert "label" not in cmp["a"]  # blind until chosen
    replay = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0"},
                                   headers={"Idempotency-Key": "c-1"})
    assert replay.json()["id"] == cmp["id"] and await _count(app_client, Comparison) == 1
    chosen = await app_client.post(f"/comparisons/{cmp['id']}/choice", json={"choice": "a"})
    assert chosen.status_code == 200, chosen.text
    labels = {chosen.json()["a"], chosen.json()["b"]}
    assert labels == {"d2l@2", "base"}  # the stored output vs the base model (no other version registered)
    again = await app_client.post(f"/comparisons/{cmp['id']}/choice", json={"choice": "b"})
    assert again.status_code == 409 and again.json()["error"] == "already_chosen"
    missing = await app_client.post("/comparisons/nope/choice", json={"choice": "same"})
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_comparison"
    bad = await app_client.post(f"/comparisons/{cmp['id']}/choice", json={"choice": "left"})
    assert bad.status_code == 400
    await app_client.post("/feedback", json={"translation_id": tid, "segment_id": "s0", "rating": "up"})
    await app_client.post("/feedback", json={"translation_id": tid, "segment_id": "s1", "rating": "down"})
    stats = (await app_client.get("/stats/feedback")).json()
    d2l = stats["adapters"]["d2l@2"]
    assert (d2l["up"], d2l["down"], d2l["thumbs_up_ratio"]) == (1, 1, 0.5)
    winner = chosen.json()["a"]
    loser = chosen.json()["b"]
    assert stats["adapters"][winner]["win_rate"] == 1.0 and stats["adapters"][loser]["win_rate"] == 0.0
    assert stats["totals"]["comparisons_judged"] == 1


async def test_comparison_order_is_random(app_client: Any) -> None:
    tid = await _recorded(app_client, adapter="d2l", version=2)
    firsts = set()
    for _ in range(12):
        r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0"})
        cid = r.json()["id"]
        async with app_client.store.read_session() as session:
            firsts.add((await session.get(Comparison, cid)).a_label)
    assert firsts == {"d2l@2", "base"}  # both orders occur (chance of a false failure: 2 * 2**-12)


async def test_comparison_bad_input(app_client: Any) -> None:
    tid = await _recorded(app_client)
    r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0",
                                                    "variants": ["base", "base"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_variants"
    r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0",
                                                    "variants": ["current", "ghost@1"]})
    assert r.status_code in (400, 404) and r.json()["error"] in ("unknown_adapter", "unknown_adapter_version")
    r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "zz"})
    assert r.status_code == 404 and r.json()["error"] == "unknown_segment"


async def test_review_page_is_served(app_client: Any) -> None:
    r = await app_client.get("/review")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert (await app_client.get("/review/vendor/katex/katex.min.js")).status_code == 200


async def test_choice_with_idempotency_key_replays(app_client: Any) -> None:
    # Regression: the scoped request hash must fit the idempotency table (PostgreSQL refused a 97-char hash).
    tid = await _recorded(app_client, adapter="d2l", version=2)
    cid = (await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0"})).json()["id"]
    first = await app_client.post(f"/comparisons/{cid}/choice", json={"choice": "same"}, headers={"Idempotency-Key": "ch-1"})
    again = await app_client.post(f"/comparisons/{cid}/choice", json={"choice": "same"}, headers={"Idempotency-Key": "ch-1"})
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"


async def test_a_variant_the_pipeline_refuses_is_never_offered(app_client: Any) -> None:
    """A/B variants come from the pipeline (constraint, validation, retries): an engine that breaks every attempt's
    placeholders gets no comparison offered (422 variant_failed, nothing stored), one that breaks only the first
    attempt gets the retried, intact variant."""
    tid = await _recorded(app_client, adapter="d2l", version=2)
    engine = app_client.app.state.engine
    engine.break_when = lambda source, attempt: True
    r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s0"})
    assert r.status_code == 422 and r.json()["error"] == "variant_failed", r.text
    assert r.json()["variant"] == "base" and "empty_output" in r.json()["reasons"]
    assert await _count(app_client, Comparison) == 0
    engine.break_when = lambda source, attempt: attempt == 0
    r = await app_client.post("/comparisons", json={"translation_id": tid, "segment_id": "s1"})
    assert r.status_code == 201, r.text
    texts = {r.json()["a"]["text"], r.json()["b"]["text"]}
    assert all("$x$" in t and ":cite:`Bahdanau.2014`" in t for t in texts)
    assert len(engine.requests) >= 3  # the refused variant's ladder, then a failed first attempt and its retry
