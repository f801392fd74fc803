"""Chunking under a token budget, with sentence-split parts and read-only context."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans import protect


def words(text: str) -> int:
    return len(text.split())


def _items(chunks: list[protect.Chunk]) -> list[protect.ChunkItem]:
    return [it for c in chunks for it in c.items]


def test_chunks_cover_every_segment_in_order(corpus_docs: list[Path]) -> None:
    pd = protect.protect(corpus_docs[0].read_text(encoding="utf-8"))
    chunks = protect.chunk(pd, 120, words, overlap=2)
    items = _items(chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    joined: dict[str, str] = {}
    for it in items:
        joined[it.segment_id] = joined.get(it.segment_id, "") + it.text
    assert list(joined) == [s.id for s in pd.segments]
    assert all(joined[s.id] == s.text for s in pd.segments)
    for c in chunks:
        assert sum(words(it.text) for it in c.items) <= 120 or len(c.items) == 1
        assert c.title == pd.title
        assert len(c.context) <= 2


def test_context_is_the_preceding_items() -> None:
    pd = protect.protect("# T\n\nOne two.\n\nThree four.\n\nFive six.\n")
    chunks = protect.chunk(pd, 2, words, overlap=1)
    assert [[it.text for it in c.items] for c in chunks] == [["T"], ["One two."], ["Three four."], ["Five six."]]
    assert [c.context for c in chunks] == [[], ["T"], ["One two."], ["Three four."]]
    # a heading opens its own section, so its chunk already carries it
    assert [c.heading_path for c in chunks] == [["T"], ["T"], ["T"], ["T"]]
    assert protect.chunk(pd, 100, words, overlap=0)[0].context == []


def test_chunks_do_not_cross_sections() -> None:
    pd = protect.protect("# A\n\nx y.\n\n## B\n\nz w.\n")
    chunks = protect.chunk(pd, 1000, words)
    assert [[it.segment_id for it in c.items] for c in chunks] == [["s0", "s1"], ["s2", "s3"]]
    assert [c.heading_path for c in chunks] == [["A"], ["A", "B"]]


def test_long_segment_split_at_sentences_never_inside_a_placeholder() -> None:
    sentence = "The value $x_{i}$ of state $s$ is high. "
    pd = protect.protect(sentence * 30)
    (seg,) = pd.segments
    chunks = protect.chunk(pd, 25, words)
    items = _items(chunks)
    assert len(items) > 1
    assert all(it.parts == len(items) and it.part == i for i, it in enumerate(items))
    assert "".join(it.text for it in items) == seg.text
    for it in items:
        assert words(it.text) <= 25
    # no placeholder is cut: the parts hold exactly the segment's placeholders, each whole
    assert sum(len(seg.style.token.findall(it.text)) for it in items) == len(seg.placeholders)
    # translating the parts and concatenating them validates and restores
    res = pd.restore({seg.id: "".join(it.text for it in items)})
    assert res.text == sentence * 30


def test_unsplittable_piece_goes_alone() -> None:
    pd = protect.protect("averyveryverylongwordwithoutanyspace " * 1)
    items = _items(protect.chunk(pd, 1, len))
    assert "".join(it.text for it in items) == pd.segments[0].text


def test_bad_arguments() -> None:
    pd = protect.protect("text")
    with pytest.raises(ValueError):
        protect.chunk(pd, 0, words)
    with pytest.raises(ValueError):
        protect.chunk(pd, 10, words, overlap=-1)
