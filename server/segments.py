"""One segment through the engine: its prompt, its attempts (all pieces and candidates at once) and the retry
ladder (:mod:`server.ladder`) that decides what is kept: ``ok``, ``retried``, ``needs_review`` or ``fallback``."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from papertrans import protect
from papertrans.contract import prompts
from papertrans.server.engine import AdapterRef, Engine, EngineUnavailableError, Generation, SamplingOptions
from papertrans.server.ladder import Attempt, EarlyStop, Rung, next_rung, rank, rescue, rungs, sample_seed
from papertrans.server.metrics import Metrics
from papertrans.server.settings import TranslateSettings

__all__ = ["SegmentOutcome", "SegmentTranslator", "Status", "Tally", "restored", "smaller_pieces"]

log = logging.getLogger(__name__)

Status = Literal["ok", "retried", "needs_review", "fallback", "memory", "cached"]
#: ``needs_review``: kept with every protected item intact, but a faithfulness check (omission, displaced placeholders,
#: placeholder numbers, markup changed, repetition) or copied English (untranslated_sentences) is left after the
#: retries: a reader should look at it.
#: ``memory``: an accepted human correction of the same masked source (same glossary version) was reused verbatim.
#: ``cached``: the output cache (:mod:`server.output_cache`) held this segment's kept ``ok``/``retried`` output under
#: the same key (source, prompts, model, adapter version, glossary, sampling): reused without an engine call.
_LETTERS = re.compile(r"[A-Za-z]{2,}")


#: Finish reasons other than a stop fail an attempt: "length" cut the text short, "repetition" is vLLM's loop detector
#: (reported as ``repetition_loop``: the soft check ``repetition`` is a span said twice in a finished output).
_FINISH_CODES = {"length": "truncated", "repetition": "repetition_loop"}


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
class Tally:
    """Engine tokens and retries of one document (or one variant)."""

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


def restored(seg: protect.Segment, output: str) -> str:
    """The reader's text of a kept masked ``output``: formulas written touching kept apart, placeholders restored
    (what :meth:`SegmentTranslator.translate` ships; the output cache restores its outputs with it)."""
    return protect.unmask(
        protect.separate_formulas(output, seg.placeholders, seg.style, seg.text), seg.placeholders, seg.style
    )


def _repaired(seg: protect.Segment, best: Attempt) -> str:
    """The kept attempt's output with the faults mended that need no model: an unclosed bold must not swallow the
    rest of the page, and "at point 4" becomes the formula the model meant (the segment stays ``needs_review``)."""
    output = best.output
    if "markup_unbalanced" in best.report.reasons:
        output = protect.balance_markup(seg.text, output, seg.style)
    if "placeholder_number" in best.report.reasons:
        output = protect.place_numbers(seg, output)
    return output


def _trace(tid: str, seg: protect.Segment, rung: Rung, attempt: Attempt) -> None:
    """One rung's verdict at DEBUG, with the figures as ``record.ladder`` (``benchmarks/bench_quality.py --trace``
    writes them out to see which checks cost retries and which rung repairs them)."""
    if log.isEnabledFor(logging.DEBUG):
        figures = {
            "translation": tid, "segment": seg.id, "rung": rung.kind, "pieces": len(rung.pieces),
            "candidates": rung.candidates, "ships": attempt.ships, "clean": attempt.clean,
            "reasons": attempt.failure_codes if not attempt.ships else attempt.report.reasons,
            "source_chars": len(seg.text), "output_chars": len(attempt.output),
        }
        log.debug("ladder %s", figures, extra={"ladder": figures})


class SegmentTranslator:
    """Translate one segment with one engine: prompts, attempts, the ladder."""

    def __init__(self, engine: Engine, settings: TranslateSettings, metrics: Metrics) -> None:
        self.engine = engine
        self.settings = settings
        self.metrics = metrics

    # -- engine calls -------------------------------------------------------------------------------------------
    def prompt(
        self, text: str, ctx: protect.Chunk | None, glossary: protect.Glossary | None, *, strict: bool,
        adapter: AdapterRef | None,
    ) -> tuple[str, list[str]]:
        # a term inside a longer one is named by the longer one only (policy inside policy gradient)
        entries = protect.outermost(glossary.find(text), text) if glossary is not None else []
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

    def request(
        self, text: str, ctx: protect.Chunk | None, glossary: protect.Glossary | None, *, strict: bool,
        adapter: AdapterRef | None, early_stop: EarlyStop, sample: int = 0,
    ) -> tuple[str, SamplingOptions]:
        """The prompt and sampling options of one engine request for one item."""
        prompt, stop = self.prompt(text, ctx, glossary, strict=strict, adapter=adapter)
        options = SamplingOptions(
            max_tokens=int(self.settings.max_tokens_factor * self.engine.count_tokens(text)) + 32,
            temperature=self.settings.retry_temperature if sample else self.settings.temperature,
            stop=tuple(stop),
            seed=sample_seed(text, sample) if sample else None,
            placeholders=_placeholders_in(text),
            early_stop=early_stop,
        )
        return prompt, options

    def first_requests(
        self, seg: protect.Segment, items: list[tuple[str, protect.Chunk]], glossary: protect.Glossary | None, *,
        adapter: AdapterRef | None,
    ) -> list[tuple[str, SamplingOptions]]:
        """The requests of the ladder's first rung, as :meth:`translate` sends them (the output cache keys on them:
        every later rung follows from them and the settings; sentence pieces only add rungs after the first)."""
        whole: list[tuple[str, protect.Chunk | None]] = list(items) or [(seg.text, None)]
        first = rungs(
            whole, [], max_retries=self.settings.max_retries, candidates=self.settings.retry_candidates,
            early_stop=self.settings.early_stop,
        )[0]
        return [
            self.request(text, ctx, glossary, strict=first.strict, adapter=adapter, early_stop=first.early_stop)
            for text, ctx in first.pieces
        ]

    async def _generate(
        self,
        text: str,
        ctx: protect.Chunk | None,
        glossary: protect.Glossary | None,
        *,
        strict: bool,
        adapter: AdapterRef | None,
        request_id: str,
        tally: Tally,
        early_stop: EarlyStop = "close",
        sample: int = 0,
    ) -> tuple[str, str | None, str | None]:
        """One engine request for one item; returns (prompt, cleaned output, failure code of its finish reason), output
        None when the engine failed. ``sample`` 0 decodes with the configured temperature (greedy by default), a
        higher one samples at ``retry_temperature`` with a seed fixed by the text and the sample number."""
        prompt, options = self.request(
            text, ctx, glossary, strict=strict, adapter=adapter, early_stop=early_stop, sample=sample
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
        tally: Tally,
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
        rid: str, tally: Tally,
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

    async def translate(
        self,
        seg: protect.Segment,
        items: list[tuple[str, protect.Chunk]],
        glossary: protect.Glossary | None,
        *,
        adapter: AdapterRef | None,
        tid: str,
        tally: Tally,
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
            prompt = self.prompt(seg.text, None, glossary, strict=False, adapter=adapter)[0]
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
        n: int | None = 0
        while n is not None:
            rung = ladder[n]
            if n:
                tally.retries += 1
                self.metrics.retries.labels(rung.kind).inc()
            last = await self._rung(seg, rung, glossary, adapter=adapter, rid=f"{tid}-{seg.id}-{n}", tally=tally)
            _trace(tid, seg, rung, last)
            if last.ships and (best is None or rank(last) > rank(best)):
                best = last
            if last.clean:
                break
            failed.extend(r for r in last.failure_codes if r not in failed)
            n = next_rung(ladder, n, last)
        last_chance = rescue(ladder) if best is None else None
        if last_chance is not None:
            tally.retries += 1
            self.metrics.retries.labels(last_chance.kind).inc()
            rid = f"{tid}-{seg.id}-{len(ladder)}"
            last = await self._rung(seg, last_chance, glossary, adapter=adapter, rid=rid, tally=tally)
            _trace(tid, seg, last_chance, last)
            if last.ships:
                best = last
            failed.extend(r for r in last.failure_codes if r not in failed)
        if best is None:  # no attempt kept every placeholder: the source text, reported with every reason
            assert last is not None  # the ladder has at least one rung
            return SegmentOutcome(
                seg.id, source, source, "fallback", failed, prompt=last.prompt, output=last.output, **base
            )
        status: Status = "ok" if best is last and not failed else "retried"
        if not best.clean:
            # kept (every protected item intact), but a faithfulness check or copied English is left after the ladder
            status = "needs_review"
        reasons = sorted(set(failed)) + [r for r in best.report.reasons if r not in failed]
        output = _repaired(seg, best)
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
            pipeline = SegmentTranslator(self.engine, sampled, self.metrics)
        return await pipeline.translate(seg, [], None, adapter=adapter, tid=request_id, tally=Tally())
