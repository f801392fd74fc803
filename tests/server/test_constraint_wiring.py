"""The placeholder constraint's wiring: the pipeline hands each item's placeholders to the engine, and the real engine
turns them into the processor's ``extra_args`` unless the setting is off (no model started)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from papertrans import protect
from papertrans.server.engine import EngineSettings, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from tests.server.conftest import serve

DOC = "We train $f(x)$ with `sgd` and $\\eta$, see [the paper](https://x.org).\n\nNo math in this one.\n"


class _Recording(FakeEngine):
    def __init__(self) -> None:
        super().__init__()
        self.options: list[tuple[str, SamplingOptions]] = []

    async def generate(self, prompt: str, options: SamplingOptions, **kw: Any) -> Generation:
        self.options.append((self.source_of(prompt), options))
        return await super().generate(prompt, options, **kw)


async def test_each_request_carries_its_items_placeholders(app_factory: Any) -> None:
    engine = _Recording()
    async with serve(app_factory(engine)) as c:
        body = (await c.post("/translate", json={"markdown": DOC})).json()
    assert body["stats"]["fallbacks"] == 0
    (seg,) = [s for s in protect.protect(DOC).segments if s.placeholders]
    by_source = dict(engine.options)
    assert sorted(by_source[seg.text].placeholders) == sorted(seg.placeholders)
    assert len(seg.placeholders) == 5  # math, code, math, and the link's two halves
    assert by_source["No math in this one."].placeholders == ()


def _engine(**settings: Any) -> Any:
    from papertrans.server.engine.inprocess import VllmEngine

    llm = SimpleNamespace(get_tokenizer=lambda: None)
    return VllmEngine(llm, model_name="m", settings=EngineSettings(**settings), device="cpu")


def test_engine_passes_the_inventory_to_the_processor() -> None:
    from papertrans.server.engine.constrain import EARLY_STOP_ARG, EXTRA_ARG, FQCN
    from papertrans.server.engine.inprocess import CONSTRAINT_FQCN

    assert CONSTRAINT_FQCN == FQCN
    opts = SamplingOptions(max_tokens=8, stop=("\n\n",), placeholders=("⟦1⟧", "⟦2⟧"))
    assert _engine()._params(opts, delta=False).extra_args == {EXTRA_ARG: ["⟦1⟧", "⟦2⟧"], EARLY_STOP_ARG: "close"}
    released = SamplingOptions(max_tokens=8, placeholders=("⟦1⟧",), early_stop="release")
    assert _engine()._params(released, delta=False).extra_args == {EXTRA_ARG: ["⟦1⟧"], EARLY_STOP_ARG: "release"}
    assert _engine()._params(SamplingOptions(), delta=False).extra_args is None
    assert _engine(constrain_placeholders=False)._params(opts, delta=False).extra_args is None


def test_a_requests_seed_reaches_vllm_only_where_it_does_not_kill_the_engine() -> None:
    """vLLM's CPU build dies on a seeded request whose step is discarded (EngineSettings.request_seeds)."""
    from papertrans.server.engine.inprocess import VllmEngine

    seeded = SamplingOptions(max_tokens=8, temperature=0.9, seed=1234)
    assert _engine()._params(seeded, delta=False).seed is None  # auto on CPU: off
    assert _engine(request_seeds="on")._params(seeded, delta=False).seed == 1234
    llm = SimpleNamespace(get_tokenizer=lambda: None)
    gpu = VllmEngine(llm, model_name="m", settings=EngineSettings(), device="cuda")
    assert gpu._params(seeded, delta=False).seed == 1234  # auto on a GPU: on
    off = VllmEngine(llm, model_name="m", settings=EngineSettings(request_seeds="off"), device="cuda")
    assert off._params(seeded, delta=False).seed is None
