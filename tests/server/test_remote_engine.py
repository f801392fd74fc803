"""The remote engine (a pool of ``vllm serve`` endpoints): routing, failover, adapters, request shape, and a
document translated through the app on it — against fake endpoints on an httpx MockTransport."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from papertrans.server.app import create_app
from papertrans.server.engine import (
    AdapterLoadError,
    AdapterRef,
    EngineError,
    EngineSettings,
    EngineUnavailableError,
    SamplingOptions,
)
from papertrans.server.engine.remote import RemoteEngine
from papertrans.server.samples import sample_paper
from papertrans.server.settings import Settings
from tests.server._fake_vllm import MODEL, FakeFleet, WordTokenizer
from tests.server._preserve import assert_document_intact
from tests.server.conftest import make_adapter, make_settings, serve

OPTS = SamplingOptions(max_tokens=64, stop=("\n\n",), placeholders=("⟦1⟧", "⟦2⟧"))
PROMPT = "英文：The model ⟦1⟧ attends to ⟦2⟧.\n中文："


def remote(fleet: FakeFleet, **settings: object) -> RemoteEngine:
    return RemoteEngine(
        fleet.urls,
        tokenizer=WordTokenizer(),
        model_name="gemma",
        settings=EngineSettings(**settings),  # type: ignore[arg-type]
        served_model=MODEL,
        transport=fleet.transport(),
    )


async def test_request_shape_carries_stop_constraint_and_loop_guard() -> None:
    fleet = FakeFleet(1)
    engine = remote(fleet)
    gen = await engine.generate(PROMPT, OPTS, request_id="r1")
    body = fleet[0].completions[0]
    assert body["model"] == MODEL and body["prompt"] == PROMPT and body["stop"] == ["\n\n"]
    # vllm serve copies vllm_xargs into SamplingParams.extra_args, where constrain.py reads the inventory
    assert body["vllm_xargs"] == {"placeholders": ["⟦1⟧", "⟦2⟧"], "early_stop": "close"}
    assert body["repetition_detection"]["min_count"] == 4
    assert "⟦1⟧" in gen.text and "⟦2⟧" in gen.text and gen.finish_reason == "stop" and gen.tokens_in > 0
    off = remote(fleet, constrain_placeholders=False)
    await off.generate(PROMPT, OPTS, request_id="r2")
    assert "vllm_xargs" not in fleet[0].completions[1]
    await engine.close()
    await off.close()


async def test_a_requests_seed_goes_to_the_fleet_only_when_set_on() -> None:
    """The server cannot see a remote endpoint's device, and vLLM's CPU build dies on per-request seeds."""
    fleet = FakeFleet(1)
    seeded = SamplingOptions(max_tokens=8, temperature=0.9, seed=77)
    default, on = remote(fleet), remote(fleet, request_seeds="on")
    await default.generate(PROMPT, seeded, request_id="r1")
    await on.generate(PROMPT, seeded, request_id="r2")
    assert [b["seed"] for b in fleet[0].completions] == [None, 77]
    await default.close()
    await on.close()


async def test_least_outstanding_routing() -> None:
    fleet = FakeFleet(2)
    fleet[0].gate = asyncio.Event()  # endpoint 0 holds its requests
    engine = remote(fleet)
    held = asyncio.create_task(engine.generate(PROMPT, OPTS, request_id="held"))
    await asyncio.sleep(0.05)
    assert [ep.outstanding for ep in engine.endpoints] == [1, 0]
    # every further request goes to the endpoint with fewer outstanding requests: endpoint 1 (it answers at once)
    for i in range(3):
        await engine.generate(PROMPT, OPTS, request_id=f"r{i}")
    assert len(fleet[1].completions) == 3 and fleet[0].completions == []
    fleet[0].gate.set()
    await held
    assert len(fleet[0].completions) == 1
    await engine.close()


async def test_failed_endpoint_is_taken_out_and_request_retried() -> None:
    fleet = FakeFleet(3)
    fleet[0].mode = "down"
    fleet[1].mode = "error"
    engine = remote(fleet)
    gens = await asyncio.gather(*(engine.generate(PROMPT, OPTS, request_id=f"r{i}") for i in range(6)))
    assert all("⟦1⟧" in g.text for g in gens)  # nothing lost
    assert len(fleet[2].completions) == 6
    assert [ep.healthy for ep in engine.endpoints] == [False, False, True]
    health = await engine.health()
    assert health["state"] == "ok"
    await engine.close()


async def test_endpoint_dying_mid_request_loses_nothing() -> None:
    fleet = FakeFleet(2)
    fleet[0].gate = asyncio.Event()
    engine = remote(fleet)
    held = asyncio.create_task(engine.generate(PROMPT, OPTS, request_id="held"))
    await asyncio.sleep(0.05)
    fleet[0].mode = "down"  # dies while the request waits there
    fleet[0].gate.set()
    gen = await held
    assert "⟦2⟧" in gen.text and len(fleet[1].completions) == 1 and not engine.endpoints[0].healthy
    await engine.close()


async def test_none_left_is_engine_unavailable_and_endpoints_come_back() -> None:
    fleet = FakeFleet(2)
    for server in fleet.servers.values():
        server.mode = "down"
    engine = remote(fleet, endpoint_retry_s=0.05)
    with pytest.raises(EngineUnavailableError, match="no engine endpoint"):
        await engine.generate(PROMPT, OPTS, request_id="r")
    assert (await engine.health())["state"] == "unavailable"
    engine.start_probe()
    fleet[1].restart()
    await asyncio.sleep(0.2)  # the probe puts it back
    assert [ep.healthy for ep in engine.endpoints] == [False, True]
    assert "⟦1⟧" in (await engine.generate(PROMPT, OPTS, request_id="r2")).text
    await engine.close()


async def test_one_stall_of_the_only_endpoint_is_retried_once_it_answers_health() -> None:
    fleet = FakeFleet(1)
    fleet[0].stalls = 1  # CI saw this: one ConnectTimeout from a loaded vllm serve, /health fine a moment later
    engine = remote(fleet)
    gen = await engine.generate(PROMPT, OPTS, request_id="r")
    assert "⟦1⟧" in gen.text and len(fleet[0].completions) == 1 and engine.endpoints[0].healthy
    fleet[0].stalls = 1
    deltas = [d async for d in engine.stream(PROMPT, OPTS, request_id="s")]
    assert "⟦2⟧" in "".join(deltas)
    fleet[0].stalls = 2  # stalled again after the probe: once per request, then a clear 503, never a loop
    with pytest.raises(EngineUnavailableError, match="ConnectTimeout"):
        await engine.generate(PROMPT, OPTS, request_id="r3")
    await engine.close()


async def test_client_error_does_not_take_the_endpoint_out() -> None:
    fleet = FakeFleet(2)
    engine = remote(fleet)
    ghost = AdapterRef("ghost@1", 9, "/nowhere")
    with pytest.raises(EngineError, match="never added"):
        await engine.generate(PROMPT, OPTS, adapter=ghost, request_id="r")
    assert all(ep.healthy for ep in engine.endpoints)
    await engine.close()


async def test_adapters_all_or_none_and_reloaded_after_restart(tmp_path: Path) -> None:
    fleet = FakeFleet(2)
    engine = remote(fleet)
    ref = AdapterRef("d2l@1", 1, str(make_adapter(tmp_path, "d2l-v1")))
    await engine.add_adapter(ref)
    assert all(s.loras == {"d2l@1": ref.path} for s in fleet.servers.values())
    assert await engine.list_adapters() == [1]
    # one endpoint refuses the next version: no endpoint keeps it, the engine does not know it
    fleet[1].refuse_lora = True
    bad = AdapterRef("d2l@2", 2, str(make_adapter(tmp_path, "d2l-v2")))
    with pytest.raises(AdapterLoadError, match="rank too large"):
        await engine.add_adapter(bad)
    assert all("d2l@2" not in s.loras for s in fleet.servers.values()) and await engine.list_adapters() == [1]
    fleet[1].refuse_lora = False
    # endpoint 0 restarts behind the engine's back: its adapters are gone; the request reloads and is served
    fleet[0].restart()
    fleet[1].mode = "down"
    gen = await engine.generate(PROMPT, OPTS, adapter=ref, request_id="r")
    assert "⟦1⟧" in gen.text and fleet[0].loras == {"d2l@1": ref.path}
    assert fleet[0].completions[-1]["model"] == "d2l@1"
    # endpoint 1 comes back as a fresh process: it gets the adapter before serving with it
    fleet[1].restart()
    fleet[0].mode = "down"
    await engine.probe()
    await engine.generate(PROMPT, OPTS, adapter=ref, request_id="r2")
    assert fleet[1].loras == {"d2l@1": ref.path}
    await engine.remove_adapter(ref)
    assert fleet[1].loras == {} and await engine.list_adapters() == []
    await engine.close()


async def test_stream_fails_over_before_the_first_delta() -> None:
    fleet = FakeFleet(2)
    fleet[0].mode = "down"
    engine = remote(fleet)
    deltas = [d async for d in engine.stream(PROMPT, OPTS, request_id="s")]
    assert len(deltas) == 2 and "⟦1⟧" in "".join(deltas)
    await engine.close()


def test_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERTRANS_ENGINE__URLS", '["http://a:8000", "http://b:8000/"]')
    assert Settings().engine.urls == ["http://a:8000", "http://b:8000/"]  # type: ignore[call-arg]


async def test_document_through_the_app_while_an_endpoint_dies(tmp_path: Path) -> None:
    fleet = FakeFleet(2)
    fleet[0].fail_after = 3  # endpoint 0 dies after three answers, in the middle of the document
    engine = remote(fleet)
    app = create_app(make_settings(tmp_path), engine=engine)
    source = sample_paper()
    async with serve(app) as c:
        r = await c.post("/translate", json={"markdown": source})
        health = (await c.get("/health")).json()
    assert r.status_code == 200, r.text
    body = r.json()
    assert_document_intact(source, body)
    # none lost to the dying endpoint: no fallback, no engine error (a "retried" is the fake model's, not the kill's)
    assert not [s for s in body["segments"] if s["status"] == "fallback" or "engine_error" in s["reasons"]]
    assert len(fleet[0].completions) == 3 and len(fleet[1].completions) >= len(body["segments"]) - 3
    assert [e["healthy"] for e in health["engine"]["endpoints"]] == [False, True]
    await engine.close()


async def test_no_endpoint_left_is_503_engine_unavailable(tmp_path: Path) -> None:
    fleet = FakeFleet(1)
    engine = remote(fleet)
    async with serve(create_app(make_settings(tmp_path), engine=engine)) as c:
        fleet[0].mode = "down"
        r = await c.post("/translate", json={"markdown": "The model attends to tokens."})
        health = await c.get("/health")
    assert r.status_code == 503 and r.json()["error"] == "engine_unavailable"
    assert health.status_code == 503
    await engine.close()


async def test_served_model_name_is_learned_once_an_endpoint_answers() -> None:
    fleet = FakeFleet(1)
    fleet[0].mode = "down"
    engine = RemoteEngine(
        fleet.urls, tokenizer=WordTokenizer(), model_name="gemma", settings=EngineSettings(),
        transport=fleet.transport(),
    )
    await engine._discover_served()
    assert engine.served_model == "gemma"  # nobody answered: the local name for now
    fleet[0].restart()
    await engine.probe()
    await engine.generate(PROMPT, OPTS, request_id="r")
    assert engine.served_model == MODEL and fleet[0].completions[0]["model"] == MODEL
    await engine.close()
