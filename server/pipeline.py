"""The translate pipeline: protect → chunk → prompts → all items in flight at once → validate → retry → restore.

Every item of a document is submitted to the engine concurrently (``asyncio.gather``) so that vLLM's continuous
batching sees them together. A segment whose output fails validation is retried with a stricter prompt, then in
smaller pieces (sentences); after the last retry it keeps its source text and is reported as ``fallback`` with the
reasons. Cancelling :meth:`Pipeline.translate` (a client that went away) cancels every engine request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from papertrans import protect
from papertrans.contract import prompts
from papertrans.server.domain_errors import DocumentTooLarge
from papertrans.server.engine import AdapterRef, Engine, EngineUnavailableError, Generation, SamplingOptions
from papertrans.server.ladder import Attempt, EarlyStop, Rung, rank, rungs, sample_seed
from papertrans.server.metrics import Metrics
from papertrans.server.settings import TranslateSettings

__all__ = ["Memory", "OnSegment", "Pipeline", "SegmentOutcome", "TranslationResult"]

log = logging.getLogger(__name__)

Status = Literal["ok", "retried", "needs_review", "fallback", "memory"]
#: ``needs_review``: kept with every protected item intact, but a faithfulness check (omission, displaced placeholders,
#: placeholder numbers, markup changed, repetition) still failed after the retries: a reader should look at it.
#: ``memory``: an accepted human correction of the same masked source (same glossary version) was reused verbatim.
Memory = Callable[[list[str], str | None], Awaitable[dict[str, str]]]
_LETTERS = re.compile(r"[A-Za-z]{2,}")


#: Finish reasons other than a stop fail an attempt: "length" cut the text short, "repetition" is vLLM's loop detector.
_FINISH_CODES = {"length": "truncated", "repetition": "repetition"}


def _finish_failure(reason: str | None) -> str | None:
    """The failure code of an engine finish reason (``None`` for a normal stop)."""
    if reason is None or reason == "stop":
        return None
    return _FINISH_CODES.get(reason, f"finish_{reason}")


def _placeholders_in(text: str) -> tuple[str, ...]:
    """The placeholders of a masked item, in order: its translation must carry each exactly once (the engine's
    constrained decoding enforces it; validation checks it)."""
    style = protect.find_style(text)
    return tuple(m.group(0) for m in style.token.finditer(text))


@dataclass
class SegmentOutcome:
    id: str
    source: str  # original text (placeholders restored)
    translation: str  # restored translation; the source itself on fallback
    status: Status
    reasons: list[str]
    # for the store / training data (masked, as the model saw it)
    masked_source: str = ""
    prompt: str = ""
    output: str = ""
    placeholders: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "translation": self.translation,
            "status": self.status,
            "reasons": self.reasons,
        }


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

    def public(self) -> dict[str, Any]:
        return {
            "translation_id": self.translation_id,
            "markdown": self.markdown,
            "segments": [s.public() for s in self.segments],
            "stats": self.stats,
            "model": self.model,
            "adapter": self.adapter,
        }


@dataclass
class _Tally:
    tokens_in: int = 0
    tokens_out: int = 0
    retries: int = 0


def smaller_pieces(seg: protect.Segment, count_tokens: Callable[[str], int]) -> list[str]:
    """Sentence pieces of a segment for the last retry; ``[]`` when it cannot be split without cutting a placeholder."""
    budget = max(8, count_tokens(seg.text) // 2)
    pieces = [p for p in protect.split_sentences(seg.text, budget, count_tokens) if p.strip()]
    if len(pieces) < 2:
        return []
    for key in seg.placeholders:
        if sum(p.count(key) for p in pieces) != seg.text.count(key):
            return []
    return pieces


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

    # -- engine calls -------------------------------------------------------------------------------------------
    def _prompt(
        self, text: str, ctx: protect.Chunk | None, glossary: protect.Glossary | None, *, strict: bool,
        adapter: AdapterRef | None,
    ) -> tuple[str, list[str]]:
        entries = glossary.find(text) if glossary is not None else []
        # An adapter is served with the prompt it was trained with (its metadata); the base model with the default.
        style = {"style": adapter.prompt_style} if adapter is not None and adapter.prompt_style else {}
        prompt, stop = prompts.build_prompt(
            self.engine,
            text,
            context=list(ctx.context) if ctx is not None else [],
            title=ctx.title if ctx is not None else None,
            heading_path=list(ctx.heading_path) if ctx is not None else [],
            glossary_entries=entries,
            strict=strict,
            **style,
        )
        return str(prompt), list(stop)

    async def _generate(
        self,
        text: str,
        ctx: protect.Chunk | None,
        glossary: protect.Glossary | None,
        *,
        strict: bool,
        adapter: AdapterRef | None,
        request_id: str,
        tally: _Tally,
        early_stop: EarlyStop = "close",
        sample: int = 0,
    ) -> tuple[str, str | None, str | None]:
        """One engine request for one item; returns (prompt, cleaned output, failure code of its finish reason), output
        None when the engine failed. ``sample`` 0 decodes with the configured temperature (greedy by default), a
        higher one samples at ``retry_temperature`` with a seed fixed by the text and the sample number."""
        prompt, stop = self._prompt(text, ctx, glossary, strict=strict, adapter=adapter)
        options = SamplingOptions(
            max_tokens=int(self.settings.max_tokens_factor * self.engine.count_tokens(text)) + 32,
            temperature=self.settings.retry_temperature if sample else self.settings.temperature,
            stop=tuple(stop),
            seed=sample_seed(text, sample) if sample else None,
            placeholders=_placeholders_in(text),
            early_stop=early_stop,
        )
        self.metrics.queue_depth.inc()
        try:
            gen: Generation = await self.engine.generate(prompt, options, adapter=adapter, request_id=request_id)
        except (asyncio.CancelledError, EngineUnavailableError):
            raise  # a dead engine fails the document at once (503), it is not a segment to retry
        except Exception as exc:  # one failed request must not fail the document: it becomes a retry/fallback
            log.warning("engine request %s failed: %s", request_id, exc)
            self.metrics.engine_errors.inc()
            return prompt, None, None
        finally:
            self.metrics.queue_depth.dec()
        tally.tokens_in += gen.tokens_in
        tally.tokens_out += gen.tokens_out
        self.metrics.tokens.labels("in").inc(gen.tokens_in)
        self.metrics.tokens.labels("out").inc(gen.tokens_out)
        return prompt, prompts.clean_output(gen.text), _finish_failure(gen.finish_reason)

    async def _attempt(
        self,
        seg: protect.Segment,
        rung: Rung,
        glossary: protect.Glossary | None,
        *,
        adapter: AdapterRef | None,
        rid: str,
        tally: _Tally,
        sample: int = 0,
    ) -> Attempt:
        """All pieces of one attempt at once, joined and validated against the whole segment."""
        results = await asyncio.gather(
            *(
                self._generate(
                    text, ctx, glossary, strict=rung.strict, adapter=adapter, request_id=f"{rid}-{i}", tally=tally,
                    early_stop=rung.early_stop, sample=sample,
                )
                for i, (text, ctx) in enumerate(rung.pieces)
            )
        )
        prompt = results[0][0] if len(results) == 1 else "\n\n".join(p for p, _, _ in results)
        output = "".join(out or "" for _, out, _ in results)
        report = protect.validate(seg, output, glossary, prompt_texts=prompts.PROMPT_TEXTS)
        finish = sorted({code for _, _, code in results if code is not None})
        return Attempt(prompt, output, report, finish, engine_failed=any(out is None for _, out, _ in results))

    async def _rung(
        self, seg: protect.Segment, rung: Rung, glossary: protect.Glossary | None, *, adapter: AdapterRef | None,
        rid: str, tally: _Tally,
    ) -> Attempt:
        """A rung's candidates at once (greedy, then samples: best-of-N); the best by the translation reward."""
        attempts = await asyncio.gather(
            *(
                self._attempt(seg, rung, glossary, adapter=adapter, rid=f"{rid}s{k}", tally=tally, sample=k)
                for k in range(rung.candidates)
            )
        )
        for attempt in attempts:
            for code in attempt.hard:
                self.metrics.placeholder_failures.labels(code).inc()
        return max(attempts, key=rank)  # the first of equals: greedy wins a tie

    async def _segment(
        self,
        seg: protect.Segment,
        items: list[tuple[str, protect.Chunk]],
        glossary: protect.Glossary | None,
        *,
        adapter: AdapterRef | None,
        tid: str,
        tally: _Tally,
        remembered: str | None = None,
    ) -> SegmentOutcome:
        """Translate one segment with its retry ladder (``outcome.output`` is the masked text for restore).

        ``remembered`` is a reader's accepted correction of this exact masked source: used as is when it passes
        validation here (no engine call); its prompt is still built and recorded, so feedback on it is training data.
        """
        source = protect.unmask(seg.text, seg.placeholders, seg.style)
        base: dict[str, Any] = {"masked_source": seg.text, "placeholders": dict(seg.placeholders)}
        if not _LETTERS.search(re.sub("|".join(map(re.escape, seg.placeholders)) or "(?!)", " ", seg.text)):
            # nothing to translate (only placeholders, numbers, punctuation): keep it, spare the engine
            return SegmentOutcome(seg.id, source, source, "ok", [], output=seg.text, **base)
        if remembered is not None and protect.validate(seg, remembered, None).status == "ok":
            prompt = self._prompt(seg.text, None, glossary, strict=False, adapter=adapter)[0]
            translation = protect.unmask(remembered, seg.placeholders, seg.style)
            return SegmentOutcome(seg.id, source, translation, "memory", [], prompt=prompt, output=remembered, **base)
        whole: list[tuple[str, protect.Chunk | None]] = list(items) or [(seg.text, None)]
        ladder = rungs(
            whole, smaller_pieces(seg, self.engine.count_tokens), max_retries=self.settings.max_retries,
            candidates=self.settings.retry_candidates, early_stop=self.settings.early_stop,
        )
        failed: list[str] = []  # the failure codes of every attempt, in order (reported with the outcome)
        best: Attempt | None = None
        last: Attempt | None = None
        for n, rung in enumerate(ladder):
            if n:
                tally.retries += 1
                self.metrics.retries.labels(rung.kind).inc()
            last = await self._rung(seg, rung, glossary, adapter=adapter, rid=f"{tid}-{seg.id}-{n}", tally=tally)
            if last.ships and (best is None or rank(last) > rank(best)):
                best = last
            if last.clean:
                break
            failed.extend(r for r in last.failure_codes if r not in failed)
        if best is None:  # no attempt kept every placeholder: the source text, reported with every reason
            assert last is not None  # the ladder has at least one rung
            return SegmentOutcome(
                seg.id, source, source, "fallback", failed, prompt=last.prompt, output=last.output, **base
            )
        status: Status = "ok" if best is last and not failed else "retried"
        if best.suspicious:
            status = "needs_review"  # kept (every protected item intact), but a faithfulness check still fails
        reasons = sorted(set(failed)) + [r for r in best.report.reasons if r not in failed]
        output = best.output
        translation = protect.unmask(
            protect.separate_formulas(output, seg.placeholders, seg.style, seg.text), seg.placeholders, seg.style
        )
        return SegmentOutcome(seg.id, source, translation, status, reasons, prompt=best.prompt, output=output, **base)

    async def translate_segment(
        self,
        masked: str,
        placeholders: Mapping[str, str],
        *,
        adapter: AdapterRef | None = None,
        temperature: float | None = None,
        request_id: str,
    ) -> SegmentOutcome:
        """One stored segment (masked, with its placeholders) translated again through the same ladder: constraint,
        validation, retries, best-of-N. The A/B comparisons' variants come from here, so a reader is never offered an
        output the pipeline would have refused. ``temperature`` overrides the first attempts' (a sampled variant)."""
        seg = protect.Segment(
            id="variant", text=masked, placeholders=dict(placeholders), kind="paragraph", heading_path=[],
            style=protect.find_style(masked),
        )
        pipeline = self
        if temperature is not None:
            sampled = self.settings.model_copy(update={"temperature": temperature})
            pipeline = Pipeline(self.engine, sampled, self.metrics)
        return await pipeline._segment(seg, [], None, adapter=adapter, tid=request_id, tally=_Tally())

    # -- the document -------------------------------------------------------------------------------------------
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
    ) -> TranslationResult:
        """``memory(masked sources, glossary version)`` returns accepted corrections by masked source (the store's
        translation memory); a segment found there is not sent to the engine. ``done`` holds the outcomes of segments
        an earlier, interrupted run already finished (by segment id): they are reused, not sent again, not reported
        to ``on_segment`` again."""
        started = time.perf_counter()
        tid = translation_id or uuid.uuid4().hex
        # in a thread: a large document takes a moment to scan and the event loop must keep serving others
        pd = await asyncio.to_thread(protect.protect, markdown, glossary)
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
        tally = _Tally()
        remembered = await _remembered(memory, pd, glossary)
        if on_start is not None:
            on_start(len(pd.segments))

        async def run(seg: protect.Segment) -> SegmentOutcome:
            if done and seg.id in done:
                return done[seg.id]
            outcome = await self._segment(seg, items.get(seg.id, []), glossary, adapter=adapter, tid=tid, tally=tally,
                                          remembered=remembered.get(seg.text))
            self.metrics.segments.labels(outcome.status).inc()
            if outcome.status == "fallback":
                self.metrics.fallbacks.inc()
            if on_segment is not None:
                on_segment(outcome)
            return outcome

        # every segment (and so every item) goes to the engine at once; cancelling this gather aborts them all
        outcomes = list(await asyncio.gather(*(run(seg) for seg in pd.segments)))
        translations = {o.id: o.output for o in outcomes if o.status != "fallback"}
        restored = pd.restore(translations, bilingual=bilingual)
        for o in outcomes:  # restore's own check is the last word: never ship a segment it rejects
            report = restored.reports.get(o.id)
            if report is not None and report.status == "fallback" and o.status != "fallback":
                o.status, o.translation = "fallback", o.source
                o.reasons = sorted(set(o.reasons) | set(report.reasons))
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
            "glossary_adherence": _adherence(pd, outcomes, glossary),
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
        )
