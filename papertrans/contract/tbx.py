"""TBX-Basic (TermBase eXchange) ↔ glossary entries, as pure functions on bytes.

Written: TBX v3 (ISO 30042:2019), dialect TBX-Basic, DCA style: one ``<conceptEntry>`` per entry, an English and a
Chinese ``<langSec>``, each with one ``<termSec><term>``; a case-sensitive entry carries
``<termNote type="x-caseSensitive">yes</termNote>`` on its English term (TBX-Basic has no data category for it).
Read: that, and TBX v2 (``<martif>``, ``<termEntry>``/``<langSet>``/``<tig>`` or ``<ntig>``), which most term-base
tools still export. A concept gives one entry per English term that is not deprecated
(``administrativeStatus`` = ``deprecatedTerm-admn-sts`` or ``supersededTerm-admn-sts``), all with the same Chinese
term: the first one marked ``preferredTerm-admn-sts``, else the first that is not deprecated. A concept without both
languages is reported in :attr:`TbxFile.skipped`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from papertrans import protect

from .xmlsafe import FormatError, parse_xml, xml_safe

__all__ = ["MAX_TBX_BYTES", "TbxFile", "TbxSkipped", "glossary_from_tbx", "parse_tbx", "write_tbx"]

MAX_TBX_BYTES = 16 * 1024 * 1024
_NS = "urn:iso:std:iso:30042:ed-2"
_DEPRECATED = ("deprecatedTerm-admn-sts", "supersededTerm-admn-sts")
_PREFERRED = "preferredTerm-admn-sts"
_YES = ("yes", "true", "1")


@dataclass(frozen=True)
class TbxSkipped:
    index: int  # the concept's position (0-based)
    reason: str  # no_source | no_target
    concept: str = ""  # its id attribute


@dataclass(frozen=True)
class TbxFile:
    entries: list[protect.GlossaryEntry]
    skipped: list[TbxSkipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Term:
    text: str
    status: str
    case_sensitive: bool


def _primary(lang: str) -> str:
    return re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0]


def _note(holder: Element, kind: str) -> str:
    for note in holder.iter("termNote"):
        if note.get("type") == kind:
            return "".join(note.itertext()).strip()
    return ""


def _terms(section: Element) -> list[_Term]:
    out = []
    for holder in section:
        if holder.tag not in ("termSec", "tig", "ntig"):
            continue
        term = next(holder.iter("term"), None)
        text = " ".join("".join(term.itertext()).split()) if term is not None else ""
        if text:
            sensitive = _note(holder, "x-caseSensitive").lower() in _YES
            out.append(_Term(text, _note(holder, "administrativeStatus"), sensitive))
    return out


def _entries(concept: Element, index: int, source: str, target: str) -> list[protect.GlossaryEntry] | TbxSkipped:
    by_lang: dict[str, list[_Term]] = {}
    for section in concept:
        if section.tag in ("langSec", "langSet"):
            by_lang.setdefault(_primary(section.get("xml:lang") or ""), []).extend(_terms(section))
    sources = [t for t in by_lang.get(source, []) if t.status not in _DEPRECATED]
    targets = [t for t in by_lang.get(target, []) if t.status not in _DEPRECATED]
    cid = concept.get("id") or ""
    if not sources:
        return TbxSkipped(index, "no_source", cid)
    if not targets:
        return TbxSkipped(index, "no_target", cid)
    chosen = next((t for t in targets if t.status == _PREFERRED), targets[0])
    return [protect.GlossaryEntry(s.text, chosen.text, s.case_sensitive) for s in sources]


def parse_tbx(data: bytes, *, source: str = "en", target: str = "zh", max_bytes: int = MAX_TBX_BYTES) -> TbxFile:
    """Read TBX v3 (``<tbx>``) or v2 (``<martif>``) into glossary entries (languages by primary subtag)."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag not in ("tbx", "martif"):
        raise FormatError("not_tbx", f"the root element is <{root.tag}>, not <tbx> or <martif>")
    entries: list[protect.GlossaryEntry] = []
    skipped: list[TbxSkipped] = []
    concepts = [el for el in root.iter() if el.tag in ("conceptEntry", "termEntry")]
    for i, concept in enumerate(concepts):
        got = _entries(concept, i, _primary(source), _primary(target))
        if isinstance(got, TbxSkipped):
            skipped.append(got)
        else:
            entries.extend(got)
    return TbxFile(entries, skipped)


def glossary_from_tbx(data: bytes) -> protect.Glossary:
    """A glossary from TBX bytes; ``FormatError`` ``glossary_invalid`` when two concepts give one English term two
    Chinese terms (a glossary enforces one), ``glossary_empty`` when no concept has both languages."""
    parsed = parse_tbx(data)
    if not parsed.entries:
        raise FormatError("glossary_empty", "no concept has both an English and a Chinese term")
    try:
        return protect.Glossary(parsed.entries)
    except ValueError as exc:
        raise FormatError("glossary_invalid", str(exc)) from None


def _escape(text: str) -> str:
    if not xml_safe(text):
        raise ValueError(f"text holds characters XML cannot carry: {text[:60]!r}")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_tbx(entries: Iterable[protect.GlossaryEntry], *, target_lang: str = "zh", title: str = "papertrans") -> bytes:
    """A TBX-Basic v3 document (UTF-8), one concept per entry, in order; the same entries give the same bytes."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<tbx type="TBX-Basic" style="dca" xml:lang="en" xmlns="{_NS}">',
        f"<tbxHeader><fileDesc><sourceDesc><p>{_escape(title)}</p></sourceDesc></fileDesc></tbxHeader>",
        "<text><body>",
    ]
    for n, e in enumerate(entries, start=1):
        case = '<termNote type="x-caseSensitive">yes</termNote>' if e.case_sensitive else ""
        lines += [
            f'<conceptEntry id="c{n}">',
            f'<langSec xml:lang="en"><termSec><term>{_escape(e.source)}</term>{case}</termSec></langSec>',
            f'<langSec xml:lang="{_escape(target_lang)}"><termSec><term>{_escape(e.target)}</term></termSec></langSec>',
            "</conceptEntry>",
        ]
    lines += ["</body></text>", "</tbx>", ""]
    return "\n".join(lines).encode("utf-8")
