"""Glossary loading, matching (word boundaries, case, inflection) and adherence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrans import protect
from papertrans.protect import Glossary, GlossaryEntry


def _sources(g: Glossary, text: str) -> list[str]:
    return [e.source for e in g.find(text)]


def test_matching_rules() -> None:
    g = Glossary.from_pairs([("attention", "注意力"), ("query", "查询"), ("GAN", "生成对抗网络", True),
                             ("hidden state", "隐状态"), ("embed", "嵌入")])
    assert _sources(g, "Attention is all") == ["attention"]
    assert _sources(g, "multiple attentions and queries") == ["attention", "query"]
    assert _sources(g, "self-attention") == []  # a hyphenated compound is another term
    assert _sources(g, "inattention") == []
    assert _sources(g, "a gan here") == []  # case-sensitive entry
    assert _sources(g, "a GAN here") == ["GAN"]
    assert _sources(g, "the hidden\nstates of") == ["hidden state"]
    assert _sources(g, "embedded and embedding") == ["embed"]
    assert g.missing("The attention query", "注意力 问题") == [GlossaryEntry("query", "查询")]


def test_load_formats(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("source,target,case_sensitive\nattention,注意力,\nGAN,生成对抗网络,true\n",
                                    encoding="utf-8")
    (tmp_path / "g.tsv").write_text("attention\t注意力\nGAN\t生成对抗网络\tyes\n", encoding="utf-8")
    (tmp_path / "g.json").write_text(json.dumps([{"source": "attention", "target": "注意力"},
                                                 {"source": "GAN", "target": "生成对抗网络", "case_sensitive": True}]),
                                     encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps({"attention": "注意力"}), encoding="utf-8")
    loaded = [Glossary.load(tmp_path / n) for n in ("g.csv", "g.tsv", "g.json")]
    assert all(g.entries == loaded[0].entries for g in loaded)
    assert loaded[0].entries[1] == GlossaryEntry("GAN", "生成对抗网络", True)
    assert len({g.version for g in loaded}) == 1
    assert Glossary.load(tmp_path / "d.json").entries == (GlossaryEntry("attention", "注意力"),)
    assert Glossary.from_pairs([("a", "b")]).version != loaded[0].version


@pytest.mark.parametrize(
    "pairs",
    [[("", "x")], [("a", " ")], [("a", "b", "maybe")], [("a", "b"), ("A", "c")], [("only",)], ["ab"]],
)
def test_bad_glossaries_raise_value_error(pairs: list[tuple[str, ...]]) -> None:
    with pytest.raises(ValueError):
        Glossary.from_pairs(pairs)


def test_glossary_is_not_matched_inside_placeholders() -> None:
    g = Glossary.from_pairs([("attention", "注意力")])
    pd = protect.protect("See `attention` and :numref:`attention`.", g)
    assert pd.segments[0].glossary == []
