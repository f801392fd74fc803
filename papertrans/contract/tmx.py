"""TMX 1.4b (Translation Memory eXchange): translation units in and out, as pure functions on bytes.

A papertrans memory entry is a masked source, a masked target and the protected text behind each placeholder
(``⟦1⟧`` → ``$x$``). In TMX a placeholder is an inline element carrying the protected text:
``<ph x="1">$x$</ph>``, so that any CAT tool shows the formula as an uneditable tag and writes it back unchanged.

Reading keeps each ``<seg>`` as a sequence of text and :class:`Inline` codes (``<ph>``, ``<bpt>``, ``<ept>``, ``<it>``,
``<ut>``: their content is native code, i.e. protected text; ``<hi>`` is translatable text and is read through).
:meth:`TmUnit.source_text` rebuilds the plain source (code content in place), which the server runs through
``protect`` before storing, so that an imported entry is keyed exactly as ``/translate`` would mask that text.

Language choice: the source variant is the header's ``srclang`` (``en`` when it says ``*all*``), the target the first
variant whose language has the wanted primary subtag (``zh`` by default): ``zh-CN``, ``zh-Hans`` and ``zh`` all match.
A unit without both is reported in :attr:`TmxFile.skipped`, never dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from papertrans import protect

from .xmlsafe import FormatError, parse_xml, xml_safe

__all__ = [
    "MAX_TMX_BYTES",
    "Inline",
    "Part",
    "Skipped",
    "TmUnit",
    "TmxFile",
    "from_masked",
    "parse_tmx",
    "to_masked",
    "writable",
    "write_tmx",
]

#: The largest TMX read (bytes): about 50,000 paragraph-sized units.
MAX_TMX_BYTES = 32 * 1024 * 1024
_VERSIONS = ("1.1", "1.2", "1.3", "1.4", "1.4b")  # the element structure this reader needs is the same in all
_CODES = ("ph", "bpt", "ept", "it", "ut")


@dataclass(frozen=True)
class Inline:
    """An inline code: ``code`` is the protected text it stands for; ``kind`` the TMX element; ``x`` its number."""

    code: str
    kind: str = "ph"
    x: str | None = None


Part = str | Inline


@dataclass(frozen=True)
class TmUnit:
    """One translation unit: the source and target segments as text and inline codes."""

    source: tuple[Part, ...]
    target: tuple[Part, ...]
    source_lang: str = "en"
    target_lang: str = "zh-CN"
    created: str | None = None  # TMX creationdate, YYYYMMDDThhmmssZ
    props: tuple[tuple[str, str], ...] = ()  # <prop type="...">value</prop>, in order

    def source_text(self) -> str:
        """The plain source: text with each code's protected text in place."""
        return _plain(self.source)

    def target_text(self) -> str:
        return _plain(self.target)


@dataclass(frozen=True)
class Skipped:
    """A ``<tu>`` that could not become a unit: its position (0-based) and why (a machine code)."""

    index: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class TmxFile:
    units: list[TmUnit]
    skipped: list[Skipped] = field(default_factory=list)
    source_lang: str = "en"


def _plain(parts: Iterable[Part]) -> str:
    return "".join(p if isinstance(p, str) else p.code for p in parts)


# -- masked text <-> parts ---------------------------------------------------------------------------------------


def from_masked(masked: str, placeholders: Mapping[str, str]) -> tuple[Part, ...]:
    """Masked text → parts: each known placeholder becomes ``Inline(protected text, "ph", x=its number)``."""
    style = protect.find_style(masked)
    parts: list[Part] = []
    pos = 0
    for m in style.token.finditer(masked):
        ph = style.canonical(m)
        if ph not in placeholders:
            continue  # not one of this segment's placeholders: ordinary text
        if m.start() > pos:
            parts.append(masked[pos : m.start()])
        parts.append(Inline(placeholders[ph], "ph", m.group(1)))
        pos = m.end()
    if pos < len(masked):
        parts.append(masked[pos:])
    return tuple(parts)


def to_masked(parts: Sequence[Part], placeholders: Mapping[str, str]) -> str:
    """Parts → masked text with ``placeholders`` (placeholder → protected text): the inverse of :func:`from_masked`
    for the same placeholders. Raises ``protect.InventoryMismatch`` when the codes are not those placeholders."""
    return protect.mask(_plain(parts), placeholders)


# -- reading -----------------------------------------------------------------------------------------------------


def _lang(el: Element) -> str:
    return (el.get("xml:lang") or el.get("lang") or "").strip()


def _primary(lang: str) -> str:
    return re.split(r"[-_]", lang.lower(), maxsplit=1)[0]


def _seg_parts(seg: Element) -> tuple[Part, ...]:
    parts: list[Part] = []

    def text(value: str | None) -> None:
        if value:
            if parts and isinstance(parts[-1], str):
                parts[-1] += value
            else:
                parts.append(value)

    def walk(el: Element) -> None:
        text(el.text)
        for child in el:
            if child.tag in _CODES:
                parts.append(Inline("".join(child.itertext()), child.tag, child.get("x") or child.get("i")))
            else:  # <hi> and unknown wrappers: translatable text
                walk(child)
            text(child.tail)

    walk(seg)
    return tuple(parts)


def _variant(tu: Element, want: str, exact: bool) -> tuple[str, tuple[Part, ...]] | None:
    for tuv in tu.iter("tuv"):
        lang = _lang(tuv)
        if (lang.lower() == want.lower()) if exact else (_primary(lang) == _primary(want)):
            seg = tuv.find("seg")
            return (lang, _seg_parts(seg)) if seg is not None else None
    return None


def _unit(tu: Element, index: int, srclang: str, target_lang: str) -> TmUnit | Skipped:
    source = _variant(tu, srclang, True) or _variant(tu, srclang, False)
    target = _variant(tu, target_lang, False)
    if source is None:
        return Skipped(index, "no_source", f"no <tuv> in {srclang}")
    if target is None:
        return Skipped(index, "no_target", f"no <tuv> in {target_lang}")
    props = tuple((p.get("type", ""), "".join(p.itertext())) for p in tu.findall("prop"))
    return TmUnit(source[1], target[1], source[0], target[0], tu.get("creationdate"), props)


def parse_tmx(data: bytes, *, target_lang: str = "zh", max_bytes: int = MAX_TMX_BYTES) -> TmxFile:
    """Read a TMX 1.1–1.4b file into units (``target_lang``: the primary language subtag of the target)."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != "tmx":
        raise FormatError("not_tmx", f"the root element is <{root.tag}>, not <tmx>")
    version = (root.get("version") or "").strip()
    if version not in _VERSIONS:
        raise FormatError("tmx_version", f"TMX version {version or '(none)'} is not read (1.1 to 1.4b are)")
    header, body = root.find("header"), root.find("body")
    if body is None:
        raise FormatError("not_tmx", "the TMX file has no <body>")
    srclang = (header.get("srclang") if header is not None else None) or "en"
    if srclang.strip().lower() == "*all*":
        srclang = "en"
    units: list[TmUnit] = []
    skipped: list[Skipped] = []
    for i, tu in enumerate(body.iter("tu")):
        got = _unit(tu, i, srclang.strip(), target_lang)
        (skipped if isinstance(got, Skipped) else units).append(got)  # type: ignore[arg-type]
    return TmxFile(units, skipped, srclang.strip())


# -- writing -----------------------------------------------------------------------------------------------------


def _escape(text: str, attribute: bool = False) -> str:
    if not xml_safe(text):
        raise ValueError(f"text holds characters XML cannot carry: {text[:60]!r}")
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    return out.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;") if attribute else out


def _seg_xml(parts: Sequence[Part]) -> str:
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(_escape(p))
        else:
            x = f' x="{_escape(p.x, True)}"' if p.x is not None and p.kind in ("ph", "bpt", "it") else ""
            i = f' i="{_escape(p.x, True)}"' if p.x is not None and p.kind in ("bpt", "ept") else ""
            out.append(f"<{p.kind}{i}{x}>{_escape(p.code)}</{p.kind}>")
    return "".join(out)


def writable(unit: TmUnit) -> bool:
    """Whether :func:`write_tmx` can carry ``unit`` (XML 1.0 has no way to write most control characters)."""
    texts = [unit.source_text(), unit.target_text(), *(v for kv in unit.props for v in kv)]
    return all(xml_safe(t) for t in texts)


def write_tmx(
    units: Iterable[TmUnit], *, source_lang: str = "en", tool_version: str = "", created: str | None = None
) -> bytes:
    """A TMX 1.4b document (UTF-8) with one ``<tu>`` per unit; raises ``ValueError`` for a unit that is not
    :func:`writable`. The same units always give the same bytes."""
    date = f' creationdate="{_escape(created, True)}"' if created else ""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<tmx version="1.4">',
        f'<header creationtool="papertrans" creationtoolversion="{_escape(tool_version, True)}" segtype="paragraph"'
        f' o-tmf="papertrans" adminlang="en" srclang="{_escape(source_lang, True)}" datatype="plaintext"{date}/>',
        "<body>",
    ]
    for u in units:
        when = f' creationdate="{_escape(u.created, True)}"' if u.created else ""
        lines.append(f"<tu{when}>")
        lines += [f'<prop type="{_escape(k, True)}">{_escape(v)}</prop>' for k, v in u.props]
        lines.append(f'<tuv xml:lang="{_escape(u.source_lang, True)}"><seg>{_seg_xml(u.source)}</seg></tuv>')
        lines.append(f'<tuv xml:lang="{_escape(u.target_lang, True)}"><seg>{_seg_xml(u.target)}</seg></tuv>')
        lines.append("</tu>")
    lines += ["</body>", "</tmx>", ""]
    return "\n".join(lines).encode("utf-8")
