"""The translation memory in and out as TMX, and its fuzzy suggestions for the review page.

Import: each unit's English and Chinese are rebuilt (inline codes' protected text in place) and cut by ``protect``,
so that an entry is keyed by exactly the masked source ``/translate`` would produce for that paragraph, heading or
list item; each Chinese segment is masked with its English segment's placeholders (:func:`protect.mask`). A unit of
several blocks (a heading and its paragraph) gives one entry per block when both sides have the same blocks. A unit is
rejected, with a reason in the report and nothing of it stored, when there is nothing to translate
(``nothing_to_translate``), when its two sides do not have the same blocks (``not_aligned``), when a Chinese segment
does not carry every protected span of its English exactly once (``placeholder_mismatch``) or fails a hard check
(``invalid_target``). Export: the newest correction of each masked source and every imported entry whose source has
no correction (corrections win, as in the lookup), as TMX 1.4b with ``<ph>`` for each placeholder.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from papertrans import __version__, protect
from papertrans.contract.tmx import TmUnit, TmxFile, from_masked, writable, write_tmx
from papertrans.server.fuzzy import FuzzyIndex, Remembered
from papertrans.server.store import Store
from papertrans.server.store.tm import TmEntry

__all__ = ["ImportReport", "Suggestions", "entries_from_units", "export_units", "import_tmx", "tmx_date"]

TARGET_LANG = "zh-CN"
ORIGIN_PROP = "x-papertrans-origin"  # correction | import


@dataclass
class ImportReport:
    units: int = 0  # translation units read
    added: int = 0  # new masked sources (entries: a unit of several blocks gives one per block)
    replaced: int = 0  # sources that had an imported entry and now have the new target
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {index, reason, detail}

    def public(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "added": self.added,
            "replaced": self.replaced,
            "rejected_count": len(self.rejected),
            "rejected": self.rejected[:200],
        }


def _entries(unit: TmUnit, origin: str | None) -> list[TmEntry] | tuple[str, str]:
    """The stored form of ``unit`` (one entry per segment protect cuts it into), or ``(reason, detail)``."""
    english = protect.protect(unit.source_text().strip()).segments
    chinese = protect.protect(unit.target_text().strip()).segments
    if not english:
        return "nothing_to_translate", "no words to translate"
    kinds = [s.kind for s in english], [s.kind for s in chinese]
    if kinds[0] != kinds[1]:
        return "not_aligned", f"the English is {'+'.join(kinds[0])}, the Chinese {'+'.join(kinds[1]) or 'empty'}"
    out: list[TmEntry] = []
    for en, zh in zip(english, chinese, strict=True):
        try:
            target = protect.mask(protect.unmask(zh.text, zh.placeholders), en.placeholders)
        except protect.InventoryMismatch as exc:
            return "placeholder_mismatch", f"missing {exc.missing}, extra {exc.extra}"
        report = protect.validate(en, target)
        if report.status != "ok":
            return "invalid_target", ", ".join(report.reasons)
        out.append(TmEntry(en.text, target, dict(en.placeholders), origin, unit.created))
    return out


def entries_from_units(units: list[TmUnit], origin: str | None) -> tuple[list[TmEntry], list[dict[str, Any]]]:
    """The entries to store and the rejected units (``{index, reason, detail}``, index = position in ``units``)."""
    entries: list[TmEntry] = []
    rejected: list[dict[str, Any]] = []
    for i, unit in enumerate(units):
        got = _entries(unit, origin)
        if isinstance(got, list):
            entries += got
        else:
            rejected.append({"index": i, "reason": got[0], "detail": got[1]})
    return entries, rejected


async def import_tmx(store: Store, parsed: TmxFile, origin: str | None) -> ImportReport:
    """Store the units of ``parsed`` that pass (one transaction); the report says what happened to each."""
    entries, rejected = await asyncio.to_thread(entries_from_units, parsed.units, origin)
    skipped = [{"index": s.index, "reason": s.reason, "detail": s.detail} for s in parsed.skipped]
    added, replaced = await store.memory_table.imported.add(entries) if entries else (0, 0)
    return ImportReport(len(parsed.units) + len(parsed.skipped), added, replaced, skipped + rejected)


def tmx_date(when: datetime) -> str:
    """TMX's date form (ISO 8601 basic, UTC): 20260102T030405Z."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _unit(source: str, target: str, placeholders: dict[str, str], origin: str, created: str | None) -> TmUnit:
    return TmUnit(
        from_masked(source, placeholders),
        from_masked(target, placeholders),
        "en",
        TARGET_LANG,
        created,
        ((ORIGIN_PROP, origin),),
    )


async def export_units(store: Store) -> list[TmUnit]:
    """The memory as units: corrections (newest per source), then imported entries without a correction."""
    memory = store.memory_table
    corrections = await memory.corrections()
    corrected = {c.source for c in corrections}
    units = [_unit(c.source, c.target, c.placeholders, "correction", tmx_date(c.created_at)) for c in corrections]
    units += [
        _unit(e.source, e.target, e.placeholders, "import", e.created)
        for e in await memory.imported.all()
        if e.source not in corrected
    ]
    return units


async def export_tmx(store: Store) -> tuple[bytes, int]:
    """The TMX bytes and how many units could not be written (characters XML 1.0 cannot carry)."""
    units = await export_units(store)
    good = [u for u in units if writable(u)]
    return write_tmx(good, tool_version=__version__), len(units) - len(good)


class Suggestions:
    """Fuzzy suggestions for a stored translation's segments, over an index rebuilt when the memory changes."""

    def __init__(self) -> None:
        self._index: FuzzyIndex | None = None
        self._stamp: tuple[int, ...] | None = None
        self._lock = asyncio.Lock()

    async def index(self, store: Store) -> FuzzyIndex:
        async with self._lock:
            stamp = await store.memory_table.stamp()
            if self._index is None or stamp != self._stamp:
                memory = store.memory_table
                corrections = await memory.corrections()
                corrected = {c.source for c in corrections}
                entries = [Remembered(c.source, c.target, c.placeholders, "correction") for c in corrections]
                entries += [
                    Remembered(e.source, e.target, e.placeholders, "import")
                    for e in await memory.imported.all()
                    if e.source not in corrected
                ]
                self._index = await asyncio.to_thread(FuzzyIndex, entries)
                self._stamp = stamp
            return self._index

    async def for_translation(self, store: Store, translation_id: str) -> dict[str, Any]:
        """``{segment_id: {score, source, target, origin}}`` for each segment with a match (texts restored with the
        entry's own protected text: the suggestion is shown as the memory holds it)."""
        stored = await store.get_translation(translation_id)
        index = await self.index(store)
        out = await asyncio.to_thread(_matches, index, stored["segments"])  # CPU work: off the event loop
        return {"translation_id": translation_id, "threshold": index.threshold, "suggestions": out}


def _matches(index: FuzzyIndex, segments: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for seg in segments:
        match = index.best(seg["source"], exclude_target=seg["output"])
        if match is None:
            continue
        e = match.entry
        out[seg["segment_id"]] = {
            "score": match.score,
            "source": protect.unmask(e.source, e.placeholders),
            "target": protect.unmask(e.target, e.placeholders),
            "origin": e.origin,
        }
    return out
