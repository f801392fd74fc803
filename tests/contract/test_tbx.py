"""TBX-Basic ↔ glossary (papertrans.contract.tbx): round trips, TBX v2 (martif) input, preferred and deprecated
terms, hostile XML refused."""

from __future__ import annotations

import pytest

from papertrans import protect
from papertrans.contract.tbx import glossary_from_tbx, parse_tbx, write_tbx
from papertrans.contract.xmlsafe import FormatError

ENTRIES = [
    protect.GlossaryEntry("attention", "注意力"),
    protect.GlossaryEntry("Q-learning", "Q学习", True),
    protect.GlossaryEntry("policy & value", "策略与价值 <v>"),
]

MARTIF = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE martif SYSTEM "TBXBasiccoreStructV02.dtd">
<martif type="TBX-Basic" xml:lang="en-US">
<martifHeader><fileDesc><sourceDesc><p>x</p></sourceDesc></fileDesc></martifHeader>
<text><body>
<termEntry id="t1">
 <langSet xml:lang="en-US"><tig><term>agent</term></tig>
   <tig><term>actor</term><termNote type="administrativeStatus">deprecatedTerm-admn-sts</termNote></tig></langSet>
 <langSet xml:lang="zh-CN"><tig><term>代理</term><termNote type="administrativeStatus">deprecatedTerm-admn-sts</termNote></tig>
   <tig><term>主体</term></tig>
   <tig><term>智能体</term><termNote type="administrativeStatus">preferredTerm-admn-sts</termNote></tig></langSet>
</termEntry>
<termEntry id="t2"><langSet xml:lang="en"><ntig><termGrp><term>reward</term></termGrp></ntig>
 <ntig><termGrp><term>reward signal</term></termGrp></ntig></langSet>
 <langSet xml:lang="zh"><ntig><termGrp><term>奖励</term></termGrp></ntig></langSet></termEntry>
<termEntry id="t3"><langSet xml:lang="en"><tig><term>lonely</term></tig></langSet></termEntry>
</body></text></martif>
"""


def test_round_trip_keeps_every_entry() -> None:
    data = write_tbx(ENTRIES)
    parsed = parse_tbx(data)
    assert parsed.entries == ENTRIES and not parsed.skipped
    assert write_tbx(parsed.entries) == data
    assert b'xmlns="urn:iso:std:iso:30042:ed-2"' in data and b'type="TBX-Basic"' in data
    assert glossary_from_tbx(data).version == protect.Glossary(ENTRIES).version


def test_tbx_v2_martif_with_preferred_and_deprecated_terms() -> None:
    parsed = parse_tbx(MARTIF.encode())
    assert [(e.source, e.target) for e in parsed.entries] == [
        ("agent", "智能体"),
        ("reward", "奖励"),
        ("reward signal", "奖励"),
    ]
    assert [(s.reason, s.concept) for s in parsed.skipped] == [("no_target", "t3")]


def test_conflicting_targets_and_empty_files_are_format_errors() -> None:
    two = write_tbx([protect.GlossaryEntry("policy", "策略"), protect.GlossaryEntry("Policy", "政策")])
    with pytest.raises(FormatError) as caught:
        glossary_from_tbx(two)
    assert caught.value.code == "glossary_invalid"
    with pytest.raises(FormatError) as caught:
        glossary_from_tbx(write_tbx([]))
    assert caught.value.code == "glossary_empty"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'<!DOCTYPE tbx [<!ENTITY a "x">]><tbx><text><body/></text></tbx>', "xml_doctype"),
        (b"<tmx version='1.4'/>", "not_tbx"),
        (b"<tbx", "xml_invalid"),
    ],
)
def test_bad_files(data: bytes, code: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_tbx(data)
    assert caught.value.code == code
