"""``evaluation`` translations (the promotion gate's): admin only, no translation memory, nothing recorded; and
``/health`` names the default adapter the nightly refresh refines."""

from __future__ import annotations

from tests.server.conftest import ADMIN, AppClient

DOC = "The attention mechanism lets the model focus on relevant tokens."
CORRECTION = "注意力机制让模型专注于相关的词元，读者的改正。"


async def test_evaluation_skips_memory_and_records_nothing(client: AppClient) -> None:
    first = (await client.post("/translate", json={"markdown": DOC})).json()
    seg = first["segments"][0]
    r = await client.post("/feedback", json={"translation_id": first["translation_id"], "segment_id": seg["id"],
                                             "correction": CORRECTION})
    assert r.status_code in (200, 201), r.text
    served = (await client.post("/translate", json={"markdown": DOC})).json()
    assert served["segments"][0]["status"] == "memory"  # a reader gets the accepted correction
    before = await client.get(f"/translations/{served['translation_id']}")
    assert before.status_code == 200

    measured = await client.post("/translate", json={"markdown": DOC, "evaluation": True}, headers=ADMIN)
    assert measured.status_code == 200, measured.text
    body = measured.json()
    assert body["segments"][0]["status"] != "memory"  # the model's own translation, not the reader's
    assert CORRECTION not in body["markdown"]
    stored = await client.get(f"/translations/{body['translation_id']}")
    assert stored.status_code == 404  # not recorded: no reader's translation, no training data


async def test_evaluation_needs_the_admin_key_and_is_not_a_job(client: AppClient) -> None:
    r = await client.post("/translate", json={"markdown": DOC, "evaluation": True})
    assert r.status_code == 401 and r.json()["error"] == "admin_key_missing"
    r = await client.post("/translate", json={"markdown": DOC, "evaluation": True}, headers={"X-Admin-Key": "no"})
    assert r.status_code == 403 and r.json()["error"] == "admin_key_invalid"
    r = await client.post("/jobs", json={"markdown": DOC, "evaluation": True}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"] == "evaluation_not_supported"


async def test_health_names_the_default_adapter(client: AppClient) -> None:
    health = (await client.get("/health")).json()
    assert "default_adapter" in health and health["default_adapter"] is None  # a handed-in engine: the base model
