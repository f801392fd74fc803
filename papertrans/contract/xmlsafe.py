"""XML for the interchange formats (TMX, TBX), read without the features that make XML dangerous.

The files come from other tools and other people, so the reader refuses what an attacker would use: an internal DTD
subset and every entity declaration (entity expansion, "billion laughs"), external entities (XXE: nothing is ever
fetched or opened), unparsed entities and notations; deep nesting and oversized input are refused before they cost
memory. A plain ``<!DOCTYPE tmx SYSTEM "tmx14.dtd">``, which CAT tools write, is accepted and ignored (the DTD is never
loaded). Errors are :class:`FormatError` with a machine-readable ``code``; the server maps them to a 4xx answer.

Element and attribute names lose their namespace (TBX v3 puts every element in its namespace), except that
``xml:lang`` keeps that spelling, so readers match plain names.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from typing import Any, NoReturn
from xml.etree.ElementTree import Element, TreeBuilder

__all__ = ["MAX_DEPTH", "FormatError", "parse_xml", "xml_safe"]

#: Nesting deeper than this is refused: TMX and TBX need fewer than 12 levels.
MAX_DEPTH = 64
_XML_NS = "http://www.w3.org/XML/1998/namespace"


class FormatError(ValueError):
    """A file that cannot be read as the format it claims: ``code`` says why (``xml_invalid``, ``xml_doctype``,
    ``xml_entity``, ``too_large``, ``not_tmx``, ``tmx_version``, ``not_tbx``, ...), ``detail`` says where."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def _local(name: str) -> str:
    """``"uri local"`` (expat's namespaced form) → ``local``; the xml namespace keeps its ``xml:`` prefix."""
    uri, _, local = name.rpartition(" ")
    return f"xml:{local}" if uri == _XML_NS else local


class _Builder:
    """expat callbacks → an ElementTree, refusing the dangerous declarations as they come."""

    def __init__(self) -> None:
        self.tree = TreeBuilder()
        self.depth = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormatError("xml_too_deep", f"elements nested deeper than {MAX_DEPTH} levels")
        self.tree.start(_local(name), {_local(k): v for k, v in attrs.items()})

    def end(self, name: str) -> None:
        self.depth -= 1
        self.tree.end(_local(name))

    @staticmethod
    def doctype(name: str, sysid: str | None, pubid: str | None, has_internal_subset: int) -> None:
        if has_internal_subset:
            raise FormatError("xml_doctype", f"a DOCTYPE with an internal subset (<!DOCTYPE {name} [...]>) is refused")

    @staticmethod
    def refuse_entity(*args: Any) -> NoReturn:
        raise FormatError("xml_entity", "entity declarations and references to them are refused")


def parse_xml(data: bytes, *, max_bytes: int) -> Element:
    """The root element of ``data`` (any encoding expat knows: UTF-8, UTF-16 with its BOM, Latin-1, ...)."""
    if len(data) > max_bytes:
        raise FormatError("too_large", f"the file has {len(data)} bytes; at most {max_bytes} are read")
    builder = _Builder()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.tree.data
    parser.StartDoctypeDeclHandler = builder.doctype
    parser.EntityDeclHandler = builder.refuse_entity
    parser.UnparsedEntityDeclHandler = builder.refuse_entity
    parser.NotationDeclHandler = builder.refuse_entity
    parser.ExternalEntityRefHandler = builder.refuse_entity
    parser.SkippedEntityHandler = builder.refuse_entity
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise FormatError("xml_invalid", f"not well-formed XML: {exc}") from None
    except RecursionError:
        raise FormatError("xml_too_deep", "elements nested too deeply") from None
    return builder.tree.close()


def xml_safe(text: str) -> bool:
    """Whether ``text`` holds only characters XML 1.0 can carry (no C0 controls but tab, LF, CR; no lone
    surrogates, no U+FFFE/U+FFFF): what a writer checks before it escapes."""
    for ch in text:
        o = ord(ch)
        if o < 0x20 and ch not in "\t\n\r":
            return False
        if 0xD800 <= o <= 0xDFFF or o in (0xFFFE, 0xFFFF):
            return False
    return True
