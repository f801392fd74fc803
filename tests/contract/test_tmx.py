"""TMX 1.4b reading and writing (papertrans.contract.tmx): round trips, placeholders as <ph>, foreign inline codes,
language choice, and hostile XML (entities, internal DTD subsets, deep nesting, oversized input) refused with a
machine-readable code."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans import protect
from papertrans.contract.tmx import Inline, TmUnit, from_masked, parse_tmx, to_masked, write_tmx
from papertrans.contract.xmlsafe import MAX_DEPTH, FormatError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "d2l_sample.tmx"


def _tmx(body: str, *, version: str = "1.4", srclang: str = "en", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<tmx version="{version}"><header srclang="{srclang}"'
        f' creationtool="t" creationtoolversion="1" segtype="sentence" o-tmf="t" adminlang="en"'
        f' datatype="plaintext"/><body>{body}</body></tmx>'
    ).encode()


def _pair(en: str, zh: str, zh_lang: str = "zh-CN") -> str:
    return f'<tu><tuv xml:lang="en"><seg>{en}</seg></tuv><tuv xml:lang="{zh_lang}"><seg>{zh}</seg></tuv></tu>'


def test_the_sample_round_trips_byte_for_byte() -> None:
    data = SAMPLE.read_bytes()
    parsed = parse_tmx(data)
    assert len(parsed.units) == 12 and not parsed.skipped
    assert write_tmx(parsed.units, tool_version="sample") == data
    assert all(any(isinstance(p, Inline) and p.kind == "ph" for p in u.source) for u in parsed.units)


def test_placeholders_are_ph_elements_carrying_the_protected_text() -> None:
    pd = protect.protect("Let $x < y$ & see `a&b` in [the docs](http://e.org/?a=1&b=2).")
    seg = pd.segments[0]
    zh = protect.mask("令 $x < y$，见[文档](http://e.org/?a=1&b=2)中的 `a&b`。", seg.placeholders)
    unit = TmUnit(from_masked(seg.text, seg.placeholders), from_masked(zh, seg.placeholders))
    xml = write_tmx([unit]).decode()
    assert '<ph x="1">$x &lt; y$</ph>' in xml and '<ph x="2">`a&amp;b`</ph>' in xml
    assert '<ph x="4">](http://e.org/?a=1&amp;b=2)</ph>' in xml
    back = parse_tmx(xml.encode()).units[0]
    assert back == unit
    assert back.source_text() == seg.source and to_masked(back.target, seg.placeholders) == zh
    assert to_masked(back.source, seg.placeholders) == seg.text


def test_text_that_xml_normalises_survives() -> None:
    unit = TmUnit(("a\r\nb \"q\" 'x' > <y>\t",), ("甲\r\n乙",), props=(("note", 'a "b"\nc'),))
    assert parse_tmx(write_tmx([unit])).units[0] == unit


def test_control_characters_are_refused_by_the_writer() -> None:
    with pytest.raises(ValueError, match="XML cannot carry"):
        write_tmx([TmUnit(("form\x0cfeed",), ("换页",))])


def test_foreign_inline_codes_become_protected_text() -> None:
    body = _pair(
        'Use <bpt i="1" x="1">&lt;b&gt;</bpt>bold<ept i="1">&lt;/b&gt;</ept> and <ph x="2">{1}</ph>'
        ' <hi type="x">here</hi><it pos="begin">&lt;i&gt;</it>.',
        '用<bpt i="1">&lt;b&gt;</bpt>粗体<ept i="1">&lt;/b&gt;</ept>和<ph x="2">{1}</ph><hi>这里</hi>'
        '<it pos="begin">&lt;i&gt;</it>。',
    )
    unit = parse_tmx(_tmx(body)).units[0]
    assert unit.source_text() == "Use <b>bold</b> and {1} here<i>."
    assert unit.target_text() == "用<b>粗体</b>和{1}这里<i>。"
    assert [p.kind for p in unit.source if isinstance(p, Inline)] == ["bpt", "ept", "ph", "it"]


def test_languages_source_by_header_target_by_primary_subtag() -> None:
    body = (
        '<tu><tuv xml:lang="fr"><seg>chat</seg></tuv><tuv xml:lang="zh-Hans"><seg>猫</seg></tuv>'
        '<tuv xml:lang="EN-US"><seg>cat</seg></tuv></tu>'
        '<tu><tuv xml:lang="en-US"><seg>dog</seg></tuv><tuv xml:lang="fr"><seg>chien</seg></tuv></tu>'
        '<tu><tuv lang="EN-US"><seg>old</seg></tuv><tuv lang="ZH"><seg>旧</seg></tuv></tu>'
    )
    parsed = parse_tmx(_tmx(body, srclang="en-US"))
    assert [(u.source_text(), u.target_text(), u.target_lang) for u in parsed.units] == [
        ("cat", "猫", "zh-Hans"),
        ("old", "旧", "ZH"),
    ]
    assert [(s.index, s.reason) for s in parsed.skipped] == [(1, "no_target")]
    assert parse_tmx(_tmx(_pair("x", "y"), srclang="*all*")).units[0].source_text() == "x"


def test_utf16_with_bom_is_read() -> None:
    data = _tmx(_pair("attention", "注意力")).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert parse_tmx(data.encode("utf-16")).units[0].target_text() == "注意力"


def test_a_plain_doctype_naming_the_dtd_is_accepted_and_never_loaded() -> None:
    prolog = '<!DOCTYPE tmx SYSTEM "http://127.0.0.1:9/tmx14.dtd">'
    assert parse_tmx(_tmx(_pair("a", "甲"), prolog=prolog)).units[0].target_text() == "甲"


@pytest.mark.parametrize(
    ("prolog", "seg", "code"),
    [
        (
            '<!DOCTYPE tmx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
            "&b;",
            "xml_doctype",
        ),  # billion laughs
        ('<!DOCTYPE tmx [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;", "xml_doctype"),  # XXE
        ('<!DOCTYPE tmx SYSTEM "tmx14.dtd">', "&undeclared;", None),  # no DTD is loaded: an unknown entity fails
        ("", "&undeclared;", "xml_invalid"),
        ("", "<unclosed>", "xml_invalid"),
    ],
)
def test_hostile_xml_is_refused(prolog: str, seg: str, code: str | None) -> None:
    with pytest.raises(FormatError) as caught:
        parse_tmx(_tmx(_pair(seg, "甲"), prolog=prolog))
    assert caught.value.code in ((code,) if code else ("xml_entity", "xml_invalid"))


def test_deep_nesting_and_size_are_bounded() -> None:
    deep = "<hi>" * (MAX_DEPTH + 1) + "x" + "</hi>" * (MAX_DEPTH + 1)
    with pytest.raises(FormatError) as caught:
        parse_tmx(_tmx(_pair(deep, "甲")))
    assert caught.value.code == "xml_too_deep"
    data = _tmx(_pair("a", "甲"))
    with pytest.raises(FormatError) as caught:
        parse_tmx(data, max_bytes=len(data) - 1)
    assert caught.value.code == "too_large"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'<?xml version="1.0"?><martif type="TBX"/>', "not_tmx"),
        (_tmx(_pair("a", "b"), version="2.0"), "tmx_version"),
        (b'<tmx version="1.4"><header srclang="en"/></tmx>', "not_tmx"),
        (b"not xml at all", "xml_invalid"),
    ],
)
def test_not_a_tmx_file(data: bytes, code: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_tmx(data)
    assert caught.value.code == code
