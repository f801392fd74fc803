"""The output cache (server/output_cache.py, store table 0004): a second translation of the same document makes no
engine request and returns the same Markdown; an edited paragraph is the only one sent again; any change of a key
part (adapter version, glossary, sampling, model) misses; a broken cache costs model calls, never the translation."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from papertrans import protect
from papertrans.server.engine import AdapterRef, EngineError, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.metrics import Metrics
from papertrans.server.output_cache import answered, segment_key
from papertrans.server.pipeline import Pipeline, TranslationResult
from papertrans.server.settings import TranslateSettings
from papertrans.server.store import CachedOutput, Store
from tests.feedback.conftest import BACKENDS, drop_database, fresh_settings
from tests.server.conftest import ADMIN, AppClient, make_adapter, serve

DOC = "The model reads the paper.\n\nThe attention $x$ lets the model focus on tokens.\n\nWe train the model.\n"


_SEGMENT = re.compile(r"s\d+")


def _requested(engine: FakeEngine, start: int = 0) -> set[str]:
    """The segment ids of the segment requests since ``start`` (request ids are ``{tid}-{segment}-{rung}...``; the
    document terminology's are ``{tid}-term{i}``)."""
    ids = {r.request_id.split("-")[1] for r in engine.requests[start:]}
    return {i for i in ids if _SEGMENT.fullmatch(i)}


class _Recording(FakeEngine):
    """The fake engine, keeping every prompt it was sent (by request id)."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: dict[str, str] = {}

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        self.prompts[request_id] = prompt
        return await super().generate(prompt, options, adapter=adapter, request_id=request_id)


def _others_carry(engine: _Recording, start: int, seg: protect.Segment) -> None:
    """Every request since ``start`` that is not one of ``seg``'s carries its edited text (the document
    terminology's request for a term first used there has it as context): none is a stale miss."""
    edited = seg.text.replace(" the ", " our ", 1)
    for r in engine.requests[start:]:
        if r.request_id.split("-")[1] != seg.id:
            assert edited in engine.prompts[r.request_id], r


# -- the dev document twice, and edited, through POST /translate ---------------------------------------------------


async def _translate(c: AppClient, markdown: str, **extra: Any) -> dict[str, Any]:
    r = await c.post("/translate", json={"markdown": markdown, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_same_document_twice_makes_no_engine_request(app_factory: Any, corpus_docs: list[Path]) -> None:
    engine = FakeEngine()
    markdown = corpus_docs[-1].read_text(encoding="utf-8")
    async with serve(app_factory(engine)) as c:
        first = await _translate(c, markdown)
        asked = len(engine.requests)
        translated = _requested(engine)
        second = await _translate(c, markdown)
        stored = (await c.get(f"/translations/{second['translation_id']}")).json()["segments"]
    assert asked > 0 and len(engine.requests) == asked  # 0 engine requests the second time
    assert second["markdown"] == first["markdown"]  # byte-identical
    assert second["stats"]["cached"] == len(translated) and second["stats"]["tokens_in"] == 0
    expected = {"ok": "cached", "retried": "cached", "needs_review": "needs_review"}
    for a, b in zip(first["segments"], second["segments"], strict=True):
        if a["id"] in translated:  # a needs_review output stays needs_review: a reader should still look at it
            assert b["status"] == expected[a["status"]] and b["reasons"] == a["reasons"], (a, b)
        else:  # nothing to translate (no engine call to save): not cached, the same answer
            assert b["status"] == a["status"] == "ok"
        assert b["translation"] == a["translation"]
    assert sum(s["status"] == "cached" for s in second["segments"]) > len(translated) // 2
    # the cached answer is recorded like any other: the kept attempt's prompt and output (feedback on it is data)
    by_id = {s["id"]: s for s in first["segments"]}
    for seg in stored:
        if seg["status"] == "cached":
            assert seg["output"] and seg["translation"] == by_id[seg["segment_id"]]["translation"]


def _paragraph(markdown: str, *, last_of_chunk: bool) -> protect.Segment:
    """A paragraph found verbatim once in ``markdown``, inside a chunk of several items: not the chunk's last item (no
    other prompt carries it as context), or the last one (the next chunk's prompts carry it)."""
    engine = FakeEngine()
    pd = protect.protect(markdown)
    by_id = {s.id: s for s in pd.segments}
    settings = TranslateSettings()
    for ch in protect.chunk(pd, settings.chunk_budget_tokens, engine.count_tokens, overlap=settings.overlap):
        ids = [it.segment_id for it in ch.items]
        if len(ids) < 3 or len(set(ids)) != len(ids):
            continue
        for sid in ids[-1:] if last_of_chunk else ids[:-1]:
            seg = by_id[sid]
            text = protect.unmask(seg.text, seg.placeholders, seg.style)
            if seg.kind == "paragraph" and markdown.count(text) == 1 and " the " in text:
                return seg
    raise AssertionError("no such paragraph in the dev document")


def _edited(markdown: str, seg: protect.Segment) -> str:
    """``markdown`` with one word of ``seg`` changed for another of the same length (the same token count: the
    chunks stay as they were)."""
    text = protect.unmask(seg.text, seg.placeholders, seg.style)
    return markdown.replace(text, text.replace(" the ", " our ", 1))


async def test_an_edited_paragraph_is_the_only_one_sent_again(app_factory: Any, corpus_docs: list[Path]) -> None:
    engine = _Recording()
    markdown = corpus_docs[-1].read_text(encoding="utf-8")
    seg = _paragraph(markdown, last_of_chunk=False)
    async with serve(app_factory(engine)) as c:
        first = await _translate(c, markdown)
        asked = len(engine.requests)
        second = await _translate(c, _edited(markdown, seg))
    assert len(engine.requests) > asked
    assert _requested(engine, asked) == {seg.id}  # the engine saw that paragraph only
    _others_carry(engine, asked, seg)
    statuses = {s["id"]: s["status"] for s in second["segments"]}
    assert statuses[seg.id] in ("ok", "retried", "needs_review")
    assert second["stats"]["cached"] == len(_requested(engine)) - 1
    before = {s["id"]: s["translation"] for s in first["segments"]}
    assert all(s["translation"] == before[s["id"]] for s in second["segments"] if s["id"] != seg.id)


async def test_an_edited_paragraph_is_sent_with_the_prompts_that_carry_it(
    app_factory: Any, corpus_docs: list[Path]
) -> None:
    """The last item of a chunk is the next chunk's read-only context: those prompts changed too, so they miss (the
    key holds the prompt as sent), and nothing else does."""
    engine = FakeEngine()
    markdown = corpus_docs[-1].read_text(encoding="utf-8")
    seg = _paragraph(markdown, last_of_chunk=True)
    edited = _edited(markdown, seg)
    pd = protect.protect(edited)
    chunks = protect.chunk(pd, TranslateSettings().chunk_budget_tokens, engine.count_tokens, overlap=1)
    carried = {
        it.segment_id
        for ch in chunks
        if ch.context and seg.text.replace(" the ", " our ", 1) in ch.context
        for it in ch.items
    }
    async with serve(app_factory(engine)) as c:
        await _translate(c, markdown)
        asked = len(engine.requests)
        await _translate(c, edited)
    assert carried and seg.id not in carried
    # segments with nothing to translate never reach the engine, in the next chunk or anywhere
    assert {seg.id} < _requested(engine, asked) <= {seg.id} | carried


async def test_a_job_of_an_edited_paper_sends_only_the_changed_segments(
    app_factory: Any, corpus_docs: list[Path]
) -> None:
    engine = _Recording()
    markdown = corpus_docs[-1].read_text(encoding="utf-8")
    seg = _paragraph(markdown, last_of_chunk=False)

    async def job(c: AppClient, text: str) -> dict[str, Any]:
        job_id = (await c.post("/jobs", json={"markdown": text})).json()["id"]
        for _ in range(500):
            body = (await c.get(f"/jobs/{job_id}")).json()
            if body["status"] in ("done", "failed"):
                assert body["status"] == "done", body
                return dict(body["result"])
            await asyncio.sleep(0.02)
        raise AssertionError("job did not finish")

    async with serve(app_factory(engine)) as c:
        first = await job(c, markdown)
        asked = len(engine.requests)
        again = await job(c, markdown)
        assert len(engine.requests) == asked and again["markdown"] == first["markdown"]
        await job(c, _edited(markdown, seg))
    assert _requested(engine, asked) == {seg.id}
    _others_carry(engine, asked, seg)


# -- what misses by construction --------------------------------------------------------------------------------------


async def test_an_adapter_swap_misses(app_factory: Any, tmp_path: Path) -> None:
    engine = FakeEngine()
    root = tmp_path / "data" / "adapters"
    make_adapter(root, "run1")
    make_adapter(root, "run2")
    async with serve(app_factory(engine)) as c:
        for folder in ("run1", "run2"):
            r = await c.post("/adapters/d2l/versions", json={"folder": folder}, headers=ADMIN)
            assert r.status_code in (200, 201), r.text
        one = await _translate(c, DOC, adapter="d2l@1")
        asked = len(engine.requests)
        two = await _translate(c, DOC, adapter="d2l@2")
        assert len(engine.requests) > asked and two["stats"]["cached"] == 0
        assert "[d2l@2]" in two["markdown"] and "[d2l@1]" not in two["markdown"]
        asked = len(engine.requests)
        again = await _translate(c, DOC, adapter="d2l@1")  # the first version's outputs are still there
    assert len(engine.requests) == asked and again["markdown"] == one["markdown"]


async def test_a_glossary_change_misses(app_factory: Any) -> None:
    engine = FakeEngine()
    async with serve(app_factory(engine)) as c:
        await _translate(c, DOC)
        asked = len(engine.requests)
        glossed = await _translate(c, DOC, glossary=[{"source": "attention", "target": "关注度"}])
        assert len(engine.requests) > asked and glossed["stats"]["cached"] == 0
        asked = len(engine.requests)
        other = await _translate(c, DOC, glossary=[{"source": "attention", "target": "注意"}])
        assert len(engine.requests) > asked and other["stats"]["cached"] == 0
        asked = len(engine.requests)
        await _translate(c, DOC, glossary=[{"source": "attention", "target": "注意"}])
    assert len(engine.requests) == asked


async def test_the_setting_turns_it_off(app_factory: Any) -> None:
    engine = FakeEngine()
    async with serve(app_factory(engine, translate={"cache": False})) as c:
        first = await _translate(c, DOC)
        asked = len(engine.requests)
        second = await _translate(c, DOC)
    assert len(engine.requests) == 2 * asked > 0
    assert second["stats"]["cached"] == 0 and "cached" not in {s["status"] for s in second["segments"]}
    assert second["markdown"] == first["markdown"]


def test_every_key_part_changes_the_key() -> None:
    engine = FakeEngine()
    settings = TranslateSettings()
    pd = protect.protect("The attention $x$ lets the model focus.")
    (seg,) = pd.segments
    glossary = protect.Glossary.from_pairs([("attention", "注意力")])
    adapter = AdapterRef("d2l@1", 1, "/adapters/run1")
    opts = SamplingOptions(max_tokens=40, placeholders=("⟦1⟧",), early_stop="release")

    def key(**change: Any) -> str:
        parts: dict[str, Any] = {
            "seg": seg,
            "requests": [("prompt", opts)],
            "engine": engine,
            "adapter": adapter,
            "glossary": glossary,
            "settings": settings,
            **change,
        }
        return segment_key(parts.pop("seg"), parts.pop("requests"), **parts)

    base = key()
    assert key() == base  # stable
    other_engine = FakeEngine()
    other_engine.model_name = "other-model"
    variants = {
        "model": key(engine=other_engine),
        "adapter version": key(adapter=AdapterRef("d2l@2", 2, "/adapters/run2")),
        "base model": key(adapter=None),
        "prompt style": key(adapter=dataclasses.replace(adapter, prompt_style="zeroshot")),
        "glossary": key(glossary=protect.Glossary.from_pairs([("attention", "注意")])),
        "no glossary": key(glossary=None),
        "prompt (context)": key(requests=[("prompt with another context", opts)]),
        "max_tokens": key(requests=[("prompt", dataclasses.replace(opts, max_tokens=41))]),
        "temperature": key(requests=[("prompt", dataclasses.replace(opts, temperature=0.3))]),
        "top_p": key(requests=[("prompt", dataclasses.replace(opts, top_p=0.9))]),
        "seed": key(requests=[("prompt", dataclasses.replace(opts, seed=7))]),
        "early_stop": key(requests=[("prompt", dataclasses.replace(opts, early_stop="close"))]),
        "retry settings": key(settings=settings.model_copy(update={"max_retries": 1})),
        "source": key(seg=dataclasses.replace(seg, text=seg.text.replace("focus", "look"))),
        "placeholder original": key(seg=dataclasses.replace(seg, placeholders={"⟦1⟧": "$y$"})),
    }
    assert base not in variants.values() and len(set(variants.values())) == len(variants), variants
    # what changes no output does not change the key
    assert key(settings=settings.model_copy(update={"memory": False, "max_document_bytes": 10})) == base


# -- what is not cached, and a cache that fails ---------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = Store(f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}")
    await st.migrate()
    try:
        yield st
    finally:
        await st.close()


def _pipeline(engine: FakeEngine, **settings: Any) -> Pipeline:
    # the terms' post-edit asks the engine (and the cache) once per term-base term of DOC (attention, token): these
    # tests count the segments' requests and cache calls, so it is off here (tests/server/test_terminology.py has it)
    settings.setdefault("term_post_edit", False)
    return Pipeline(engine, TranslateSettings(**settings), Metrics())


async def test_a_fallback_is_not_cached(store: Store) -> None:
    engine = FakeEngine(break_when=lambda source, attempt: "attention" in source)  # never a valid answer
    pipeline = _pipeline(engine)
    first = await pipeline.translate(DOC, cache=store)
    assert [s.status for s in first.segments] == ["ok", "fallback", "ok"]
    asked = len(engine.requests)
    second = await pipeline.translate(DOC, cache=store)
    assert _requested(engine, asked) == {"s1"}  # the fallback is asked again, the others come from the cache
    assert [s.status for s in second.segments] == ["cached", "fallback", "cached"]


class _FailsOnce(FakeEngine):
    """Every request of the first translation of one segment fails once (an engine error), then answers."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        if not self.failed and "attention" in self.source_of(prompt):
            self.failed = True
            raise EngineError("one request failed")
        return await super().generate(prompt, options, adapter=adapter, request_id=request_id)


async def test_an_outcome_shaped_by_an_engine_error_is_not_cached(store: Store) -> None:
    engine = _FailsOnce()
    pipeline = _pipeline(engine)
    first = await pipeline.translate(DOC, cache=store)
    s1 = first.segments[1]
    assert engine.failed and s1.status == "retried" and "engine_error" in s1.reasons
    asked = len(engine.requests)
    second = await pipeline.translate(DOC, cache=store)
    assert _requested(engine, asked) == {"s1"}
    assert [s.status for s in second.segments] == ["cached", "ok", "cached"]


class _Broken:
    """A cache whose reads or writes raise (a database that went away)."""

    def __init__(self, *, read: bool, write: bool) -> None:
        self.read, self.write, self.calls = read, write, 0

    async def cached_outputs(self, keys: Sequence[str]) -> dict[str, CachedOutput]:
        self.calls += 1
        if self.read:
            raise OSError("database is away")
        return {}

    async def cache_outputs(
        self, entries: Sequence[tuple[str, CachedOutput]], *, model: str, adapter: str | None
    ) -> int:
        self.calls += 1
        if self.write:
            raise OSError("database is away")
        return len(entries)


@pytest.mark.parametrize(("read", "write"), [(True, True), (False, True), (True, False)])
async def test_a_broken_cache_costs_model_calls_not_the_translation(read: bool, write: bool) -> None:
    plain = await _pipeline(FakeEngine()).translate(DOC)
    engine = FakeEngine()
    broken = _Broken(read=read, write=write)
    result: TranslationResult = await _pipeline(engine).translate(DOC, cache=broken)
    assert broken.calls == 2 and result.markdown == plain.markdown
    assert [s.status for s in result.segments] == [s.status for s in plain.segments]
    assert _requested(engine) == {"s0", "s1", "s2"} and result.stats["cached"] == 0


async def test_the_memory_wins_over_the_cache(store: Store) -> None:
    engine = FakeEngine()
    pipeline = _pipeline(engine)
    await pipeline.translate(DOC, cache=store)
    correction = "我们训练模型。"

    async def memory(sources: list[str], glossary_version: str | None) -> dict[str, str]:
        return {s: correction for s in sources if s.startswith("We train")}

    asked = len(engine.requests)
    result = await pipeline.translate(DOC, cache=store, memory=memory)
    assert len(engine.requests) == asked
    assert [s.status for s in result.segments] == ["cached", "cached", "memory"]
    assert result.segments[2].translation == correction


async def test_single_requests_are_answered_from_the_cache(store: Store) -> None:
    """Plain requests (the document terminology's, one per term) are cached one by one; a failed one is not."""
    engine = FakeEngine()
    requests = [(f"<|user|>\nText:\n{t}\n<|end|>", SamplingOptions(max_tokens=8)) for t in ("model", "paper", "tokens")]

    def asker(adapter: AdapterRef | None) -> Any:
        async def ask(i: int) -> str | None:
            if i == 1:
                return None  # the request failed
            gen = await engine.generate(requests[i][0], requests[i][1], adapter=adapter, request_id=f"r{i}")
            return gen.text

        return ask

    first, sent = await answered(store, engine, None, requests, asker(None))
    assert sent == 3 and first == ["译：模型", None, "译：词元"]
    again, sent = await answered(store, engine, None, requests, asker(None))
    assert sent == 1 and again == first  # only the failed one is asked again
    adapter = AdapterRef("d2l@1", 1, "/adapters/run1")
    await engine.add_adapter(adapter)
    other, sent = await answered(store, engine, adapter, requests, asker(adapter))
    assert sent == 3 and other[0] == "[d2l@1]译：模型"  # another adapter misses
    plain, sent = await answered(None, engine, None, requests, asker(None))
    assert sent == 3 and plain == first  # no cache: every request is asked
    broken, sent = await answered(_Broken(read=True, write=True), engine, None, requests, asker(None))
    assert sent == 3 and broken == first


# -- the store's table, on SQLite and PostgreSQL ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_table_stores_finds_and_counts_hits(backend: str, tmp_path: Path) -> None:
    from papertrans.server.store import open_store

    settings, db = await fresh_settings(backend, tmp_path)
    try:
        st = await open_store(settings)
        try:
            row = CachedOutput("译：⟦1⟧ 模型。", "the prompt", "retried", ["untranslated_sentences"])
            assert await st.cache_outputs([("k1", row)], model="fake", adapter="d2l@1") == 1
            # the same key again (two translations of one paper at once) keeps the first row, without an error
            other = CachedOutput("another", "p", "ok", [])
            assert await st.cache_outputs([("k1", other), ("k2", other)], model="fake", adapter=None) == 2
            assert await st.cached_outputs(["k1", "k2", "missing"]) == {"k1": row, "k2": other}
            await st.cached_outputs(["k1"])
            async with st.read_session() as session:
                from sqlalchemy import text

                hits = dict((await session.execute(text("SELECT key, hits FROM output_cache"))).all())
            assert hits == {"k1": 2, "k2": 1}
            many = [(f"m{i}", other) for i in range(1200)]  # more than one IN batch
            assert await st.cache_outputs(many, model="fake", adapter=None) == 1200
            assert len(await st.cached_outputs([k for k, _ in many])) == 1200
        finally:
            await st.close()
    finally:
        await drop_database(db)


async def test_cached_segments_add_no_training_data(app_factory: Any) -> None:
    """A thumbs-up on a cached segment and on the original is one SFT row: the same prompt and output."""
    from papertrans.server.store.export import export

    async with serve(app_factory(FakeEngine())) as c:
        first = await _translate(c, DOC)
        second = await _translate(c, DOC)
        assert second["segments"][0]["status"] == "cached"
        for body in (first, second):
            vote = {"translation_id": body["translation_id"], "segment_id": "s0", "rating": "up"}
            assert (await c.post("/feedback", json=vote)).status_code == 201
        rows = (await export(c.app.state.store, "sft")).rows
        prompts = (await export(c.app.state.store, "prompts")).rows
    assert len(rows) == 1 and rows[0]["completion"].startswith("译：")
    assert len(prompts) == 3  # three segments' prompts, not six
