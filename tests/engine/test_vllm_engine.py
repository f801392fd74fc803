"""The real engine (vLLM on the embedded model): generation, streaming, abort, adapters, the glossary example."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from papertrans.contract import prompts
from papertrans.server.engine import AdapterLoadError, AdapterRef, Engine, SamplingOptions
from papertrans.server.engine.inprocess import VllmEngine

pytestmark = pytest.mark.engine

SENTENCE = "The attention mechanism lets the model focus on relevant tokens."
SHORT = SamplingOptions(max_tokens=24)


def rid() -> str:
    return uuid.uuid4().hex


async def wait_idle(engine: VllmEngine, seconds: float = 5.0) -> int:
    deadline = time.monotonic() + seconds
    while engine.llm.get_num_unfinished_requests() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return int(engine.llm.get_num_unfinished_requests())


async def test_generate_counts_tokens_and_honours_stop(real_engine: VllmEngine) -> None:
    assert isinstance(real_engine, Engine)
    prompt, stop = prompts.build_prompt(real_engine, "Deep learning is a field of machine learning.")
    gen = await real_engine.generate(prompt, SamplingOptions(max_tokens=48, stop=stop), request_id=rid())
    assert gen.text.strip()
    # the converted Gemma tokenizer adds no BOS of its own; a tokenizer that does adds one token
    assert gen.tokens_in - real_engine.count_tokens(prompt) in (0, 1)
    assert 0 < gen.tokens_out <= 48
    assert not any(s in gen.text for s in stop)  # vLLM cuts at the stop string
    assert any("\u4e00" <= ch <= "\u9fff" for ch in gen.text)


async def test_stream_yields_deltas_that_add_up(real_engine: VllmEngine) -> None:
    opts = SamplingOptions(max_tokens=16)
    deltas = [d async for d in real_engine.stream("The capital of France is", opts, request_id=rid())]
    whole = await real_engine.generate("The capital of France is", opts, request_id=rid())
    assert len(deltas) > 1
    assert "".join(deltas) == whole.text  # greedy: the stream and the one-shot call agree


async def test_cancelling_generate_aborts_the_engine_request(real_engine: VllmEngine) -> None:
    long = SamplingOptions(max_tokens=1500)
    task = asyncio.create_task(real_engine.generate("Once upon a time", long, request_id=rid()))
    deadline = time.monotonic() + 30
    while real_engine.llm.get_num_unfinished_requests() == 0:  # wait until it is running in the engine
        assert time.monotonic() < deadline, "request never reached the engine"
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_idle(real_engine) == 0


async def test_leaving_a_stream_early_aborts_it(real_engine: VllmEngine) -> None:
    stream = real_engine.stream("Once upon a time", SamplingOptions(max_tokens=1500), request_id=rid())
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert await wait_idle(real_engine) == 0


async def test_adapter_add_use_list_remove(real_engine: VllmEngine, peft_adapters: dict[str, Path]) -> None:
    ref = AdapterRef(name="engine-test@1", int_id=9001, path=str(peft_adapters["small"]))
    await real_engine.add_adapter(ref)
    assert 9001 in await real_engine.list_adapters()
    prompt = "Neural networks are"
    base = await real_engine.generate(prompt, SHORT, request_id=rid())
    tuned = await real_engine.generate(prompt, SHORT, adapter=ref, request_id=rid())
    assert tuned.text and tuned.tokens_out > 0
    assert tuned.text != base.text  # the random adapter does change the output
    await real_engine.remove_adapter(ref)
    assert 9001 not in await real_engine.list_adapters()


async def test_bad_adapters_are_refused(
    real_engine: VllmEngine, peft_adapters: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(AdapterLoadError):
        await real_engine.add_adapter(AdapterRef(name="missing@1", int_id=9002, path=str(tmp_path / "nope")))
    with pytest.raises(AdapterLoadError):  # rank 64 > max_lora_rank 16
        await real_engine.add_adapter(AdapterRef(name="huge@1", int_id=9003, path=str(peft_adapters["huge"])))
    assert {9002, 9003}.isdisjoint(await real_engine.list_adapters())
    assert (await real_engine.health())["state"] == "ok"  # a refused adapter does not hurt the engine


async def test_one_batch_mixes_base_and_adapter_requests(
    real_engine: VllmEngine, peft_adapters: dict[str, Path]
) -> None:
    ref = AdapterRef(name="engine-mix@1", int_id=9004, path=str(peft_adapters["small"]))
    await real_engine.add_adapter(ref)
    try:
        prompt = "Neural networks are"
        alone_base = await real_engine.generate(prompt, SHORT, request_id=rid())
        alone_tuned = await real_engine.generate(prompt, SHORT, adapter=ref, request_id=rid())
        mixed: list[Any] = await asyncio.gather(
            *(real_engine.generate(prompt, SHORT, adapter=ref if i % 2 else None, request_id=rid()) for i in range(6))
        )
        # every request in the mixed batch got its own model: base rows match the base run, adapter rows the adapter
        assert [g.text for g in mixed[0::2]] == [alone_base.text] * 3
        assert [g.text for g in mixed[1::2]] == [alone_tuned.text] * 3
    finally:
        await real_engine.remove_adapter(ref)


async def test_glossary_term_reaches_the_output(real_engine: VllmEngine) -> None:
    prompt, stop = prompts.build_prompt(real_engine, SENTENCE, glossary_entries=[("attention", "注意力")])
    gen = await real_engine.generate(prompt, SamplingOptions(max_tokens=64, stop=stop), request_id=rid())
    out = prompts.clean_output(gen.text)
    assert "注意力" in out, out
    assert gen.finish_reason == "stop"  # ended by a stop sequence / EOS, not a loop or the length cap


async def test_health_and_tokenizer(real_engine: VllmEngine) -> None:
    health = await real_engine.health()
    assert health["state"] == "ok" and health["model"] == real_engine.model_name
    assert real_engine.count_tokens("") == 0
    assert real_engine.count_tokens("hello world") >= 2
    assert real_engine.has_chat_template() is False  # the embedded model is a base model
    with pytest.raises(ValueError):
        real_engine.apply_chat_template([{"role": "user", "content": "hi"}])


async def test_sampled_seeded_requests_at_volume_leave_the_engine_alive(real_engine: VllmEngine,
                                                                        corpus_dir: Path) -> None:
    """The retry ladder's best-of-N candidates are seeded requests; 32 of them at once overflow a scheduler step, and
    on vLLM's CPU build a seeded request whose step is discarded killed the engine ('CPU Generator does not use
    offset'): every request in flight then failed. The engine leaves the seed out on CPU (request_seeds auto)."""
    import json

    units = [json.loads(line) for line in (corpus_dir / "d2l_en_zh.jsonl").read_text().splitlines()[:32]]
    sampled = [SamplingOptions(max_tokens=32, temperature=0.9, seed=1000 + i) for i in range(len(units))]
    gens = await asyncio.gather(*(
        real_engine.generate(prompts.build_prompt(real_engine, u["en"][:800])[0], opts, request_id=rid())
        for u, opts in zip(units, sampled, strict=True)
    ))
    assert len(gens) == 32 and all(g.tokens_out > 0 for g in gens)
    after = await real_engine.generate(prompts.build_prompt(real_engine, SENTENCE)[0], SHORT, request_id=rid())
    assert after.tokens_out > 0
