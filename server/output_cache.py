"""The output cache: a segment's kept model output, reused when everything that produced it is the same again.

**Where it keys.** Per *segment outcome*: what the retry ladder finally kept for one segment (its masked output, the
prompt of the attempt that wrote it, its status and reasons), keyed by everything that outcome follows from:

* the segment's masked source text and its placeholders' originals (validation reads them);
* the exact requests of the ladder's first rung: every prompt (so the chunk context, title, heading path, glossary
  entries, prompt style and chat template as actually sent) with its sampling options (max_tokens, temperature,
  top_p, seed, stop, n, the placeholders the constraint enforces, early_stop); every later rung follows from these
  and the settings;
* the model name, the engine's kind and whether it constrains placeholders; the adapter's versioned name with its
  integer id and folder (``None`` = the base model), its prompt style and the template version;
* the glossary's version; the translate settings (retries, candidates, retry temperature, ...) and this release.

Keying single engine requests instead would still leave the ladder to run (validation, retries of the failures):
only the kept outcome per segment gives 0 engine requests and byte-identical Markdown on a second run. A change of
any part misses by construction: an adapter swap (a new versioned name), a glossary change, one edited paragraph
(its segments, and the neighbours whose context carries it, get new prompts; the rest of the paper hits).

**What is stored.** Outcomes the engine made this run with status ``ok``, ``retried`` or ``needs_review``; never a
``fallback`` (the source text, not a translation), an outcome with an ``engine_error`` among its reasons (a
transient failure shaped it), a ``memory`` reuse (the store's corrections win anyway) or a segment with nothing to
translate (no engine call to save). A hit is reported as ``cached`` with the stored reasons; one stored as
``needs_review`` stays ``needs_review`` (a reader should look at it whether or not the model ran again). ``stats``
counts every hit in ``cached``.

**Single requests.** A step that sends plain requests whose answer it judges itself (the document terminology's one
request per term) caches each answer by :func:`request_key` (model, engine, constraint, adapter, the prompt and its
options) through :func:`answered`: stored answers are reused, only the others are sent.

**Failures.** An unreadable or unwritable cache costs model calls, never the translation: it is logged and the
pipeline goes on (as the translation memory does).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from papertrans import __version__, protect
from papertrans.contract import prompts
from papertrans.server.engine import AdapterRef, Engine, SamplingOptions
from papertrans.server.segments import SegmentOutcome, Status, restored
from papertrans.server.settings import TranslateSettings
from papertrans.server.store import CachedOutput

__all__ = [
    "CACHE_FORMAT",
    "OutputCache",
    "answered",
    "cacheable",
    "from_cache",
    "lookup",
    "request_key",
    "segment_key",
    "write_through",
]

log = logging.getLogger(__name__)

#: Bumped when what an outcome means changes without a release (the ladder, validation): old rows then miss.
CACHE_FORMAT = 1
K = TypeVar("K")  # what a lookup's keys are found by (a segment id, a request's index)
_KEPT: frozenset[str] = frozenset({"ok", "retried", "needs_review"})
# settings that change no output: turning the cache or memory off, the request size limit
_NOT_OUTPUT = {"cache", "memory", "max_document_bytes"}


class OutputCache(Protocol):
    """What the pipeline needs of the cache (the store implements it)."""

    async def cached_outputs(self, keys: Sequence[str]) -> dict[str, CachedOutput]: ...

    async def cache_outputs(
        self, entries: Sequence[tuple[str, CachedOutput]], *, model: str, adapter: str | None
    ) -> int: ...


def _options(o: SamplingOptions) -> list[Any]:
    return [o.max_tokens, o.temperature, o.top_p, list(o.stop), o.n, o.seed, list(o.placeholders), o.early_stop]


def _constraint(engine: Engine) -> bool | None:
    """Whether the engine enforces the placeholders while decoding (``None``: it has no such setting)."""
    value = getattr(getattr(engine, "settings", None), "constrain_placeholders", None)
    return value if isinstance(value, bool) else None


def _engine_parts(engine: Engine, adapter: AdapterRef | None) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT,
        "release": __version__,
        "model": engine.model_name,
        "engine": type(engine).__qualname__,
        "constrain": _constraint(engine),
        "adapter": None if adapter is None else [adapter.name, adapter.int_id, adapter.path],
    }


def _digest(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def segment_key(
    seg: protect.Segment,
    requests: Sequence[tuple[str, SamplingOptions]],
    *,
    engine: Engine,
    adapter: AdapterRef | None,
    glossary: protect.Glossary | None,
    settings: TranslateSettings,
) -> str:
    """The sha256 (hex) of every part one segment's outcome follows from (module docstring)."""
    style = adapter.prompt_style if adapter is not None else None
    parts = {
        **_engine_parts(engine, adapter),
        "kind": "segment",
        "prompt_style": style,
        "template": prompts.template_version(style),
        "glossary": glossary.version if glossary is not None else None,
        "source": seg.text,
        "placeholders": sorted(seg.placeholders.items()),
        "requests": [[prompt, _options(options)] for prompt, options in requests],
        "settings": settings.model_dump(mode="json", exclude=_NOT_OUTPUT),
    }
    return _digest(parts)


def request_key(engine: Engine, adapter: AdapterRef | None, prompt: str, options: SamplingOptions) -> str:
    """The sha256 (hex) of one plain engine request: the engine's parts, the prompt and its sampling options."""
    return _digest({**_engine_parts(engine, adapter), "kind": "request", "request": [prompt, _options(options)]})


def cacheable(outcome: SegmentOutcome) -> bool:
    """An outcome worth storing: kept by the ladder from engine output, not shaped by an engine error."""
    return outcome.status in _KEPT and bool(outcome.prompt) and "engine_error" not in outcome.reasons


def from_cache(seg: protect.Segment, hit: CachedOutput) -> SegmentOutcome:
    """The outcome of ``seg`` from a stored one: ``cached`` (``needs_review`` stays so), the stored reasons."""
    status: Status = "needs_review" if hit.status == "needs_review" else "cached"
    return SegmentOutcome(
        seg.id,
        protect.unmask(seg.text, seg.placeholders, seg.style),
        restored(seg, hit.output),
        status,
        list(hit.reasons),
        masked_source=seg.text,
        prompt=hit.prompt,
        output=hit.output,
        placeholders=dict(seg.placeholders),
    )


async def lookup(cache: OutputCache, keys: Mapping[K, str]) -> dict[K, CachedOutput]:
    """Stored outcomes for ``keys`` (e.g. segment id -> key), by the same ids; ``{}`` when the cache cannot be
    read."""
    if not keys:
        return {}
    try:
        found = await cache.cached_outputs(sorted(set(keys.values())))
    except asyncio.CancelledError:
        raise
    except Exception:  # an unreadable cache costs model calls, never the translation
        log.exception("output cache lookup failed; translating without it")
        return {}
    return {sid: found[key] for sid, key in keys.items() if key in found}


async def write_through(
    cache: OutputCache, entries: Sequence[tuple[str, SegmentOutcome]], *, model: str, adapter: str | None
) -> None:
    """Store ``(key, outcome)`` pairs that :func:`cacheable` accepts; a failing write is logged, never raised."""
    rows = [(key, CachedOutput(o.output, o.prompt, o.status, list(o.reasons))) for key, o in entries if cacheable(o)]
    await _store(cache, rows, model=model, adapter=adapter)


async def _store(
    cache: OutputCache, rows: Sequence[tuple[str, CachedOutput]], *, model: str, adapter: str | None
) -> None:
    if not rows:
        return
    try:
        await cache.cache_outputs(rows, model=model, adapter=adapter)
    except asyncio.CancelledError:
        raise
    except Exception:  # the reader still gets the translation; the next run pays the model calls again
        log.exception("output cache write of %d row(s) failed", len(rows))


#: ``ask(i)``: the ``i``-th request sent to the engine, its cleaned text (``None`` when it failed: not stored).
Ask = Callable[[int], Awaitable[str | None]]


async def answered(
    cache: OutputCache | None,
    engine: Engine,
    adapter: AdapterRef | None,
    requests: Sequence[tuple[str, SamplingOptions]],
    ask: Ask,
) -> tuple[list[str | None], int]:
    """The answers of plain ``requests`` (in order) and how many were sent: stored ones from ``cache``, the rest by
    ``ask`` at once and written through. No cache: every request is asked."""
    keys = [request_key(engine, adapter, p, o) for p, o in requests] if cache is not None else []
    stored = await lookup(cache, dict(enumerate(keys))) if cache is not None else {}
    todo = [i for i in range(len(requests)) if i not in stored]
    asked = await asyncio.gather(*(ask(i) for i in todo))
    answers: list[str | None] = [stored[i].output if i in stored else None for i in range(len(requests))]
    for i, text in zip(todo, asked, strict=True):
        answers[i] = text
    if cache is not None:
        rows = [
            (keys[i], CachedOutput(text, requests[i][0], "answer"))
            for i, text in zip(todo, asked, strict=True)
            if text is not None
        ]
        await _store(cache, rows, model=engine.model_name, adapter=adapter.name if adapter else None)
    return answers, len(todo)
