"""What ``POST /translate`` and the jobs share: a validated request, and the :class:`Translator` that pins the adapter,
runs the :class:`server.pipeline.Pipeline` and records the translation in the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from papertrans import protect
from papertrans.server.adapters import AdapterRegistry
from papertrans.server.domain_errors import InvalidDocument
from papertrans.server.metrics import Metrics
from papertrans.server.output_cache import OutputCache
from papertrans.server.pipeline import Memory, OnSegment, Pipeline, SegmentOutcome, TranslationResult
from papertrans.server.reader_terms import merge_glossary
from papertrans.server.settings import TranslateSettings
from papertrans.server.store import SegmentRecord, Store, StoreError, TranslationRecord
from papertrans.server.store.glossary_terms import GlossaryTerms

__all__ = ["TranslateInput", "Translator"]

log = logging.getLogger(__name__)


@dataclass
class TranslateInput:
    """A validated /translate or /jobs body."""

    markdown: str
    adapter: str | None = None
    glossary: list[tuple[str, str]] = field(default_factory=list)
    output: Literal["zh", "bilingual"] = "zh"
    # what stays as it is for this request (None: the server's translate.keep_* settings; docs/placeholders.md)
    keep_references: bool | None = None
    keep_authors: bool | None = None
    keep_captions: bool | None = None


class Translator:
    """What /translate and /jobs share: pin the adapter, run the pipeline, record the translation in the store."""

    def __init__(
        self,
        pipeline: Pipeline,
        adapters: AdapterRegistry,
        store: Store | None,
        metrics: Metrics,
        settings: TranslateSettings,
    ) -> None:
        self.pipeline = pipeline
        self.adapters = adapters
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self.default_adapter: str | None = None  # what a request without ``adapter`` uses (None = the base model)

    def _memory(self, own: protect.Glossary | None = None, merged: bool = False) -> Memory | None:
        """The store's translation memory, unless turned off (``translate.memory``) or there is no store. With
        readers' terms merged into the glossary (``merged``), it is still keyed by the request's ``own`` glossary: a
        correction keeps matching its segment after a term mined from corrections was accepted."""
        if self.store is None or not self.settings.memory:
            return None
        if not merged:
            return self.store.memory
        lookup, version = self.store.memory, own.version if own is not None else None

        async def keyed(sources: Sequence[str], _merged_version: str | None) -> dict[str, str]:
            return await lookup(sources, version)

        return keyed

    async def with_reader_terms(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The request's glossary with the readers' accepted terms under it (``server.reader_terms``: the request's
        own entry for a term wins); a store that cannot be read leaves the request's glossary as it is."""
        db = getattr(self.store, "db", None)
        if db is None:
            return list(pairs)
        try:
            accepted = await GlossaryTerms(db).accepted()
        except StoreError as exc:
            log.warning("readers' glossary terms not read (%s): translating with the request's glossary", exc)
            return list(pairs)
        return merge_glossary(pairs, accepted)

    def _cache(self) -> OutputCache | None:
        """The store's output cache, unless turned off (``translate.cache``) or there is no store."""
        return self.store if self.store is not None and self.settings.cache else None

    def adapter_spec(self, requested: str | None) -> str | None:
        """The adapter a request runs on: its own, else the server's default; ``none`` is the base model."""
        spec = requested if requested is not None else self.default_adapter
        return None if spec is None or spec.strip().lower() in ("none", "base") else spec

    def glossary(self, pairs: Sequence[tuple[str, str]]) -> protect.Glossary | None:
        if not pairs:
            return None
        try:
            return protect.Glossary.from_pairs(list(pairs))
        except (ValueError, TypeError) as exc:
            raise InvalidDocument("invalid_glossary", str(exc)) from exc

    def verbatim(self, req: TranslateInput) -> protect.Verbatim:
        """What stays as it is for ``req``: its own choices, the server's settings for the rest."""
        asked = {"references": req.keep_references, "authors": req.keep_authors, "captions": req.keep_captions}
        return replace(self.pipeline.verbatim(), **{k: v for k, v in asked.items() if v is not None})

    async def run(
        self,
        req: TranslateInput,
        *,
        on_segment: OnSegment | None = None,
        on_start: Callable[[int], None] | None = None,
        translation_id: str | None = None,
        done: Mapping[str, SegmentOutcome] | None = None,
        evaluation: bool = False,
    ) -> TranslationResult:
        # evaluation: the promotion gate measuring an adapter as readers get it: no translation memory (a held-out
        # correction would be served back verbatim), no output cache, nothing recorded (no reader's, no training data)
        pairs = await self.with_reader_terms(req.glossary)
        merged = len(pairs) != len(req.glossary)
        glossary, own = self.glossary(pairs), self.glossary(req.glossary)
        spec = self.adapter_spec(req.adapter)
        async with self.adapters.acquire(spec) as ref:  # pinned: finishes on the version it started with
            result = await self.pipeline.translate(
                req.markdown,
                adapter=ref,
                glossary=glossary,
                bilingual=req.output == "bilingual",
                on_segment=on_segment,
                on_start=on_start,
                translation_id=translation_id,
                memory=None if evaluation else self._memory(own, merged),
                done=done,
                verbatim=self.verbatim(req),
                cache=None if evaluation else self._cache(),  # the gate measures the model, not the cache
            )
        if merged:  # recorded (and matched by the memory) under the request's own glossary; the terms are the server's
            result.glossary_version = own.version if own is not None else None
        if not evaluation:
            await self.record(result, req)
        return result

    async def record(self, result: TranslationResult, req: TranslateInput) -> None:
        """Store the translation; a store failure is counted, never raised (the reader still gets the response)."""
        if self.store is None:
            return
        try:
            name, _, version = (result.adapter or "").partition("@")
            rec = TranslationRecord(
                id=result.translation_id,
                doc_hash=result.doc_hash,
                model=result.model,
                adapter=name or None,
                adapter_version=int(version) if version else None,
                prompt_template_version=result.prompt_template_version,
                glossary_version=result.glossary_version,
                settings={
                    "output": req.output,
                    "glossary": [list(p) for p in req.glossary],
                    # the document's terminology (server.terminology): what the prompts enforced besides the glossary
                    "terminology": result.terminology,
                    "temperature": self.settings.temperature,
                    "chunk_budget_tokens": self.settings.chunk_budget_tokens,
                    "overlap": self.settings.overlap,
                    "max_retries": self.settings.max_retries,
                },
                segments=[
                    SegmentRecord(
                        segment_id=s.id,
                        source=s.masked_source,
                        prompt=s.prompt,
                        output=s.output,
                        translation=s.translation,
                        status=s.status,
                        reasons=list(s.reasons),
                        placeholders=dict(s.placeholders),
                    )
                    for s in result.segments
                ],
            )
            await self.store.record_translation(rec)
        except Exception:  # the contract says it never raises; this guards against a store that does anyway
            log.exception("recording translation %s failed", result.translation_id)
            self.metrics.store_failures.inc()
