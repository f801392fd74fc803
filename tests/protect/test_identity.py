"""The identity invariant: restoring every segment with its own masked text gives back the source byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans import protect

from ._helpers import CORPUS, corpus_units, identity, with_crlf


def test_dev_documents_round_trip(corpus_docs: list[Path]) -> None:
    assert corpus_docs, "no corpus documents"
    for path in corpus_docs:
        text = path.read_text(encoding="utf-8")
        assert identity(text) == text, path.name


def test_dev_units_round_trip(corpus_dir: Path) -> None:
    units = corpus_units(corpus_dir)
    assert len(units) > 100
    for unit in units:
        for side in ("en", "zh"):
            text = str(unit[side])
            assert identity(text) == text, (unit["id"], side)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_round_trips(name: str) -> None:
    text = CORPUS[name]
    assert identity(text) == text
    assert identity(with_crlf(text)) == with_crlf(text)
    assert identity(text.replace("\n", "\r")) == text.replace("\n", "\r")


def test_no_translation_returns_source_and_reports_every_segment(corpus_docs: list[Path]) -> None:
    text = corpus_docs[0].read_text(encoding="utf-8")
    pd = protect.protect(text)
    result = pd.restore({})
    assert result.text == text
    assert set(result.reports) == {s.id for s in pd.segments}
    assert all(r.status == "fallback" and r.reasons == ["no_translation"] for r in result.reports.values())


def test_five_megabyte_document(corpus_docs: list[Path]) -> None:
    base = "\n\n".join(p.read_text(encoding="utf-8") for p in corpus_docs) + "\n\n" + "\n\n".join(CORPUS.values())
    big = (base + "\n\n") * (5_000_000 // len(base) + 1)
    assert len(big) >= 5_000_000
    pd = protect.protect(big)
    assert len(pd.segments) > 1000
    assert pd.restore({s.id: s.text for s in pd.segments}).text == big
