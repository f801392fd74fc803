"""The translate pipeline: protect → chunk → prompts → all items in flight at once → validate → retry → restore.

Every item of a document is submitted to the engine concurrently (``asyncio.gather``) so that vLLM's continuous
batching sees them together. Each segment goes through its retry ladder (:mod:`server.segments`,
:mod:`server.ladder`): a stricter prompt with best-of-N candidates, then smaller pieces (sentences); the best attempt
is kept (``needs_review`` when a faithfulness check still fails), and a segment with no attempt that keeps every
placeholder keeps its source text and is reported as ``fallback`` with the reasons. Cancelling
:meth:`Pipeline.translate` (a client that went away) cancels every engine request. Before any engine call, every
segment is looked up at once in the translation memory (accepted corrections: they win) and in the output cache
(:mod:`server.output_cache`: the kept outcome of the same segment under the same model, adapter, prompts, glossary and
sampling); what the engine kept this run is written through to the cache afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from papertrans import protect
from papertrans.contract import prompts
from papertrans.server.domain_errors import DocumentTooLarge
from papertrans.server.engine import AdapterRef, Engine
from papertrans.server.metrics import Metrics
from papertrans.server.output_cache import OutputCache, from_cache, lookup, segment_key, write_through
from papertrans.server.segments import SegmentOutcome, SegmentTranslator, Tally
from papertrans.server.settings import TranslateSettings
from papertrans.server.store import CachedOutput
from papertrans.server.terminology import Terminology

__all__ = ["Memory", "OnSegment", "Pipeline", "SegmentOutcome", "TranslationResult"]

log = logging.getLogger(__name__)

#: ``memory(masked sources, glossary version)``: accepted corrections by masked source (the store's memory).
Memory = Callable[[list[str], str | None], Awaitable[dict[str, str]]]


@dataclass
class TranslationResult:
    translation_id: str
    markdown: str
    segments: list[SegmentOutcome]
    stats: dict[str, Any]
    model: str
    adapter: str | None  # served (versioned) name, None = base model
    doc_hash: str
    glossary_version: str | None
    prompt_template_version: str  # of the prompts actually built: the adapter's style (its metadata), else few-shot
    terminology: list[dict[str, Any]] = field(default_factory=list)  # server.terminology.TermChoice.public each

    def public(self) -> dict[str, Any]:
        return {
            "translation_id": self.translation_id,
            "markdown": self.markdown,
            "segments": [s.public() for s in self.segments],
            "stats": self.stats,
            "model": self.model,
            "adapter": self.adapter,
            "terminology": self.terminology,
        }


async def _remembered(
    memory: Memory | None, pd: protect.ProtectedDocument, glossary: protect.Glossary | None
) -> dict[str, str]:
    if memory is None or not pd.segments:
        return {}
    try:
        return await memory([s.text for s in pd.segments], glossary.version if glossary is not None else None)
    except asyncio.CancelledError:
        raise
    except Exception:  # an unreadable memory costs a model call, never the translation
        log.exception("translation memory lookup failed; translating without it")
        return {}


def _adherence(
    pd: protect.ProtectedDocument, outcomes: list[SegmentOutcome], glossary: protect.Glossary | None
) -> float | None:
    """Share of glossary terms (found in the source) whose target appears in the translation; None = no term."""
    if glossary is None:
        return None
    by_id = {o.id: o for o in outcomes}
    total = kept = 0
    for seg in pd.segments:
        terms = glossary.find(seg.text)
        if not terms:
            continue
        outcome = by_id[seg.id]
        total += len(terms)
        if outcome.status != "fallback":
            kept += len(terms) - len(glossary.missing(seg.text, outcome.output))
    return round(kept / total, 4) if total else None


def _pairs(
    pd: protect.ProtectedDocument, outcomes: list[SegmentOutcome], edited: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Each segment's masked source and masked translation as restored (the terms' post-edit in, ``""`` for one kept
    in English): what term consistency is counted on."""
    by_id = {o.id: o for o in outcomes}
    shipped = {i: "" if o.status == "fallback" else edited.get(i, o.output) for i, o in by_id.items()}
    return [(s.text, shipped[s.id]) for s in pd.segments]


OnSegment = Callable[[SegmentOutcome], None]


class Pipeline:
    """Translate one Markdown document with one engine (and optionally one pinned adapter version)."""

    def __init__(
        self,
        engine: Engine,
        settings: TranslateSettings,
        metrics: Metrics | None = None,
        max_segments: int | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.max_segments = max_segments
        self.metrics = metrics or Metrics()
        self.segments = SegmentTranslator(engine, settings, self.metrics)
        self.terminology = Terminology(engine, settings)

    def verbatim(self, requested: protect.Verbatim | None = None) -> protect.Verbatim:
        """What stays as it is: a request's own choice, else the server's settings (``translate.keep_*``). Kept
        parts are no segments: no engine request, restored byte for byte."""
        if requested is not None:
            return requested
        s = self.settings
        return protect.Verbatim(references=s.keep_references, authors=s.keep_authors, captions=s.keep_captions)

    async def translate(
        self,
        markdown: str,
        *,
        adapter: AdapterRef | None = None,
        glossary: protect.Glossary | None = None,
        bilingual: bool = False,
        on_segment: OnSegment | None = None,
        on_start: Callable[[int], None] | None = None,
        translation_id: str | None = None,
        memory: Memory | None = None,
        done: Mapping[str, SegmentOutcome] | None = None,
        verbatim: protect.Verbatim | None = None,
        cache: OutputCache | None = None,
    ) -> TranslationResult:
        """``memory(masked sources, glossary version)`` returns accepted corrections by masked source (the store's
        translation memory); a segment found there is not sent to the engine. ``done`` holds the outcomes of segments
        an earlier, interrupted run already finished (by segment id): they are reused, not sent again, not reported
        to ``on_segment`` again. ``cache``: the output cache (a segment found there is not sent to the engine either;
        the memory wins over it)."""
        started = time.perf_counter()
        tid = translation_id or uuid.uuid4().hex
        # in a thread: a large document takes a moment to scan and the event loop must keep serving others
        pd = await asyncio.to_thread(protect.protect, markdown, glossary, None, self.verbatim(verbatim))
        if self.max_segments is not None and len(pd.segments) > self.max_segments:
            # the same answer as the routes' check before a job (server.limits.segment_limit): 413 at the edge
            count, limit = len(pd.segments), self.max_segments
            raise DocumentTooLarge("too_many_segments", f"{count} segments > {limit}", limit=limit)
        chunks = protect.chunk(
            pd, self.settings.chunk_budget_tokens, self.engine.count_tokens, overlap=self.settings.overlap
        )
        items: dict[str, list[tuple[str, protect.Chunk]]] = {}
        for chunk in chunks:
            for item in sorted(chunk.items, key=lambda it: it.part):
                items.setdefault(item.segment_id, []).append((item.text, chunk))
        tally = Tally()
        # the document's glossary (the request's entries, then its chosen terms) is what the prompts enforce; the
        # memory stays keyed by the request's glossary (a correction is a reader's, whatever the terms chosen)
        terms = await self.terminology.choose(
            pd, glossary, adapter=adapter, request_id=tid, tally=tally, cache=cache
        )
        enforced = terms.glossary
        remembered = await _remembered(memory, pd, glossary)
        keys, hits = await self._cached(cache, pd, items, enforced, adapter, done, remembered)
        fresh: set[str] = set()  # segments the engine translated in this run (written through to the cache)
        if on_start is not None:
            on_start(len(pd.segments))

        async def run(seg: protect.Segment) -> SegmentOutcome:
            if done and seg.id in done:
                return done[seg.id]
            hit = hits.get(seg.id)
            if hit is not None:
                outcome = from_cache(seg, hit)
            else:
                outcome = await self.segments.translate(
                    seg, items.get(seg.id, []), enforced, adapter=adapter, tid=tid, tally=tally,
                    remembered=remembered.get(seg.text),
                )
                fresh.add(seg.id)
            self.metrics.segments.labels(outcome.status).inc()
            if outcome.status == "fallback":
                self.metrics.fallbacks.inc()
            if on_segment is not None:
                on_segment(outcome)
            return outcome

        # every segment (and so every item) goes to the engine at once; cancelling this gather aborts them all
        outcomes = list(await asyncio.gather(*(run(seg) for seg in pd.segments)))
        # the terms' post-edit (translate.term_post_edit): the restored text, never the stored model output
        edited = terms.edit(pd.segments, outcomes)
        translations = {o.id: edited.get(o.id, o.output) for o in outcomes if o.status != "fallback"}
        restored = pd.restore(translations, bilingual=bilingual)
        for o in outcomes:  # restore's own check is the last word: never ship a segment it rejects
            report = restored.reports.get(o.id)
            if report is not None and report.status == "fallback" and o.status != "fallback":
                o.status, o.translation = "fallback", o.source
                o.reasons = sorted(set(o.reasons) | set(report.reasons))
        await self._write_through(cache, keys, [o for o in outcomes if o.id in fresh], adapter)
        fallbacks = sum(o.status == "fallback" for o in outcomes)
        stats = {
            "segments": len(pd.segments),
            "chunks": len(chunks),
            "tokens_in": tally.tokens_in,
            "tokens_out": tally.tokens_out,
            "seconds": round(time.perf_counter() - started, 3),
            "fallbacks": fallbacks,
            "needs_review": sum(o.status == "needs_review" for o in outcomes),
            "retries": tally.retries,
            "verbatim_blocks": len(pd.verbatim),
            "cached": len(hits.keys() - fresh),
            "glossary_adherence": _adherence(pd, outcomes, glossary),
            "term_consistency": terms.count(_pairs(pd, outcomes, edited)),
            "terminology_requests": terms.requests,
        }
        return TranslationResult(
            translation_id=tid,
            markdown=restored.text,
            segments=outcomes,
            stats=stats,
            model=self.engine.model_name,
            adapter=adapter.name if adapter else None,
            doc_hash=hashlib.sha256(markdown.encode()).hexdigest(),
            glossary_version=glossary.version if glossary is not None else None,
            prompt_template_version=prompts.template_version(adapter.prompt_style if adapter is not None else None),
            terminology=terms.public(),
        )

    async def _cached(
        self, cache: OutputCache | None, pd: protect.ProtectedDocument,
        items: Mapping[str, list[tuple[str, protect.Chunk]]], glossary: protect.Glossary | None,
        adapter: AdapterRef | None, done: Mapping[str, SegmentOutcome] | None, remembered: Mapping[str, str],
    ) -> tuple[dict[str, str], dict[str, CachedOutput]]:
        """The output cache's key of every segment still to translate (by id), and the stored outcomes found for
        them, but for a segment the memory answers (it wins). Keys come from the requests each first rung would
        send: built in a thread, like protect, for a large document."""
        if cache is None:
            return {}, {}
        todo = [s for s in pd.segments if not (done and s.id in done)]
        keys = await asyncio.to_thread(self._keys, todo, items, glossary, adapter)
        hits = await lookup(cache, {s.id: keys[s.id] for s in todo if s.text not in remembered})
        return keys, hits

    async def _write_through(
        self, cache: OutputCache | None, keys: Mapping[str, str], made: list[SegmentOutcome],
        adapter: AdapterRef | None,
    ) -> None:
        """What the engine made this run, into the cache (``write_through`` keeps only what may be reused)."""
        if cache is not None:
            rows = [(keys[o.id], o) for o in made]
            await write_through(cache, rows, model=self.engine.model_name, adapter=adapter.name if adapter else None)

    def _keys(
        self, segs: list[protect.Segment], items: Mapping[str, list[tuple[str, protect.Chunk]]],
        glossary: protect.Glossary | None, adapter: AdapterRef | None,
    ) -> dict[str, str]:
        return {
            seg.id: segment_key(
                seg, self.segments.first_requests(seg, items.get(seg.id, []), glossary, adapter=adapter),
                engine=self.engine, adapter=adapter, glossary=glossary, settings=self.settings,
            )
            for seg in segs
        }
