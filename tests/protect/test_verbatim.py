"""What stays as it is (issue 21): the references section, the byline and, as an option, captions pass through like
fenced code: never segments, restored byte for byte; everything around them is translated as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papertrans import protect
from papertrans.clients import latex_to_markdown

from ._helpers import CORPUS, REPO, with_crlf
from .test_properties import FRAGMENTS

PAPER = REPO / "tests" / "data" / "papers" / "sparse-attention-paper.md"
ALL = protect.Verbatim(references=True, authors=True, captions=True)
NONE = protect.Verbatim(references=False, authors=False, captions=False)
DEFAULT = protect.Verbatim()  # references and byline kept, captions translated


def _identity(text: str, verbatim: protect.Verbatim | None) -> str:
    pd = protect.protect(text, verbatim=verbatim)
    return pd.restore({s.id: s.text for s in pd.segments}).text


def _translated(text: str, verbatim: protect.Verbatim | None = DEFAULT) -> tuple[protect.ProtectedDocument, str]:
    """Every segment "translated" (its text prefixed with 译：): what comes back unchanged was never a segment."""
    pd = protect.protect(text, verbatim=verbatim)
    return pd, pd.restore({s.id: "译：" + s.text for s in pd.segments}).text


def _texts(pd: protect.ProtectedDocument) -> list[str]:
    return [s.text for s in pd.segments]


# -- identity ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("verbatim", [protect.Verbatim(), ALL, NONE, None], ids=["default", "all", "none", "off"])
def test_paper_round_trips(verbatim: protect.Verbatim | None) -> None:
    text = PAPER.read_text(encoding="utf-8")
    for form in (text, with_crlf(text), text.replace("\n", "\r")):
        assert _identity(form, verbatim) == form


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_round_trips_with_every_part_kept(name: str) -> None:
    text = CORPUS[name]
    assert _identity(text, ALL) == text
    assert _identity(with_crlf(text), ALL) == with_crlf(text)


def test_dev_documents_unchanged(corpus_docs: list[Path]) -> None:
    """The d2l documents have no references and no byline: the default options change none of their segments."""
    for path in corpus_docs:
        text = path.read_text(encoding="utf-8")
        assert _identity(text, protect.Verbatim()) == text
        assert _texts(protect.protect(text, verbatim=protect.Verbatim())) == _texts(protect.protect(text))
        assert protect.protect(text, verbatim=protect.Verbatim()).verbatim == []


def test_nothing_kept_is_todays_segmentation() -> None:
    text = PAPER.read_text(encoding="utf-8")
    assert _texts(protect.protect(text, verbatim=NONE)) == _texts(protect.protect(text))
    assert protect.protect(text).verbatim == []


# -- references ----------------------------------------------------------------------------------------------------
def test_paper_references_and_byline_kept_appendix_translated() -> None:
    text = PAPER.read_text(encoding="utf-8")
    pd, out = _translated(text)
    kinds = [b.kind for b in pd.verbatim]
    assert kinds == ["authors", "authors", "references"]
    refs = pd.verbatim[-1].text
    assert refs.startswith("## References\n") and refs.rstrip().endswith("<https://arxiv.org/abs/2007.14062>")
    assert refs in out and refs == text[pd.verbatim[-1].start : pd.verbatim[-1].end]
    for block in pd.verbatim:
        assert block.text in out
    joined = "\n".join(_texts(pd))
    for line in refs.splitlines():
        if line.strip():
            assert line.strip() not in joined  # no reference line reaches a segment
    assert "Beltagy" not in joined and "Vaswani" not in joined and "Mei Lin" not in joined
    # the appendix after the references and the footnote are translated again
    assert "## 译：Appendix A: Training details" in out
    assert "译：We train every model" in out
    assert "[^1]: 译：The attention mechanism" in out
    assert "# 译：Local Windows" in out and "## 译：Abstract" in out


@pytest.mark.parametrize(
    "heading",
    [
        "## References",
        "# References",
        "### 7 References",
        "## 7. References",
        "## VII. REFERENCES",
        "## **References**",
        "## Bibliography",
        "## Works Cited",
        "## Literature Cited",
        "## References and Notes",
        "## 参考文献",
        "## References {#refs}",
        "## References \\label{sec:refs}",
        "References\n----------",
        "**References**",
        "REFERENCES",
    ],
)
def test_reference_headings(heading: str) -> None:
    text = f"# A Paper\n\nSome prose here.\n\n{heading}\n\n- A. Author. A title. 2020.\n- B. Author. Another. 2021.\n"
    pd, out = _translated(text)
    assert [b.kind for b in pd.verbatim] == ["references"]
    assert out.endswith(f"{heading}\n\n- A. Author. A title. 2020.\n- B. Author. Another. 2021.\n")
    assert _texts(pd) == ["A Paper", "Some prose here."]


@pytest.mark.parametrize(
    "heading",
    ["## Referencing earlier work", "## References to prior work", "## Related work and references", "## Citations"],
)
def test_headings_that_only_mention_references_are_translated(heading: str) -> None:
    text = f"# A Paper\n\n{heading}\n\nWe cite a lot of work.\n"
    pd, _ = _translated(text)
    assert pd.verbatim == [] and "We cite a lot of work." in _texts(pd)


def test_section_ends_at_a_heading_of_the_same_or_higher_level() -> None:
    text = (
        "# Paper\n\n## 5 Discussion\n\n### References\n\n1. Ref one.\n\n#### Notes on sources\n\nStill references.\n\n"
        "### Open problems\n\nTranslated again.\n\n## 6 Appendix\n\nAlso translated.\n"
    )
    pd, _ = _translated(text)
    texts = _texts(pd)
    assert "Ref one." not in texts and "Notes on sources" not in texts and "Still references." not in texts
    assert {"Open problems", "Translated again.", "6 Appendix", "Also translated."} <= set(texts)


def test_lone_references_paragraph_ends_at_any_heading() -> None:
    # a PDF converter writes a paragraph when the font does not make "References" a heading
    text = "# Paper\n\nBody.\n\n**References**\n\n[1] A. Author. Title. 2020.\n\n#### Appendix\n\nMore body.\n"
    pd, _ = _translated(text)
    assert _texts(pd) == ["Paper", "Body.", "Appendix", "More body."]


def test_references_inside_containers_are_not_a_section() -> None:
    text = "# Paper\n\n> ## References\n>\n> quoted text here\n\n- References\n\nAfter.\n"
    pd, _ = _translated(text)
    assert pd.verbatim == []
    assert "quoted text here" in _texts(pd)


def test_latex_converter_bibliography() -> None:
    tex = (
        "\\documentclass{article}\n\\title{Sparse Attention}\n"
        "\\author{Mei Lin \\\\ University of Edinburgh \\\\ \\texttt{mei@ed.ac.uk} \\and Jonas Weber \\\\ MPI}\n"
        "\\begin{document}\n\\maketitle\n\\begin{abstract}We study attention.\\end{abstract}\n"
        "\\section{Introduction}\nAttention is used\\footnote{A note.} widely \\cite{v}.\n"
        "\\begin{thebibliography}{9}\n\\bibitem{v} A. Vaswani et al. Attention is all you need. In NeurIPS, 2017.\n"
        "\\end{thebibliography}\n\\end{document}\n"
    )
    md = latex_to_markdown(tex).markdown
    pd, out = _translated(md)
    assert [b.kind for b in pd.verbatim] == ["authors", "references"]
    assert "Mei Lin, University of Edinburgh, `mei@ed.ac.uk`, Jonas Weber, MPI\n" in out
    assert "## References\n\n- A. Vaswani et al. Attention is all you need. In NeurIPS, 2017.\n" in out
    assert "[^1]: 译：A note." in out  # the converter's footnotes follow the bibliography: translated


# -- the byline ----------------------------------------------------------------------------------------------------
BYLINES = [
    "Alice Smith, Bob Jones and Carol White",
    "Alice Smith¹, Bob Jones²\n¹Stanford University, ²MIT",
    "Alice Smith$^{1}$, Bob Jones$^{2,*}$",
    "**Alice Smith**\\*, Bob Jones<sup>1</sup>  \n<sup>1</sup>Google Research",
    "Department of Computer Science, University of Oxford, Oxford, UK",
    "John Smith\nStanford University\nStanford, CA 94305, USA",
    "`{alice,bob}@stanford.edu`",
    "J. R. R. Tolkien and C. S. Lewis",
    "The University of Texas at Austin",
    "Correspondence to: Alice Smith <alice@example.org>",
    "[Alice Smith](https://example.org/alice), [Bob Jones](https://example.org/bob)",
    "ORCID: 0000-0002-1825-0097",
    "张三, 李四\n清华大学",
]


@pytest.mark.parametrize("byline", BYLINES)
def test_byline_kept(byline: str) -> None:
    text = f"# A Paper Title\n\n{byline}\n\n## Abstract\n\nWe study things.\n"
    pd, out = _translated(text)
    assert [b.kind for b in pd.verbatim] == ["authors"]
    assert f"\n\n{byline}\n\n" in out
    assert _texts(pd) == ["A Paper Title", "Abstract", "We study things."]


PROSE = [
    "We propose a new method for translating papers.",
    "This work was done while the first author was at Stanford University.",
    "Keywords: Deep Learning, Neural Networks",
    "Deep Residual Learning",  # a title-case phrase alone: may be a subtitle
    "Attention Is All You Need",
    "A Study of Transformers at Scale, With Applications",
    "John Smith",  # one name and nothing else that says byline
    "In this paper, Alice Smith and Bob Jones study Transformers.",
    "Preprint. Under review.",
    "Code: https://github.com/example/project",
    "Transformers, Attention, Diffusion",
    "We thank the reviewers.\nAlice Smith, Bob Jones",  # prose first: the paragraph is prose
]


@pytest.mark.parametrize("prose", PROSE)
def test_prose_after_the_title_is_translated(prose: str) -> None:
    text = f"# A Paper Title\n\n{prose}\n\n## Introduction\n\nBody.\n"
    pd, _ = _translated(text)
    assert pd.verbatim == []
    assert len(pd.segments) == 4


def test_byline_lines_then_prose_in_one_paragraph() -> None:
    text = "# T\n\nAlice Smith, Bob Jones\nWe thank the reviewers for their comments.\n\nMore prose.\n"
    pd, out = _translated(text)
    assert [b.text for b in pd.verbatim] == ["Alice Smith, Bob Jones"]
    assert (
        out == "# 译：T\n\nAlice Smith, Bob Jones\n译：We thank the reviewers for their comments.\n\n译：More prose.\n"
    )
    bi = pd.restore({s.id: "译：" + s.text for s in pd.segments}, bilingual=True).text
    assert "Alice Smith, Bob Jones\nWe thank the reviewers" in bi and "\n\n译：We thank the reviewers" in bi


def test_byline_stops_at_the_first_prose_paragraph_and_at_the_abstract() -> None:
    text = (
        "# T\n\nAlice Smith, Bob Jones\n\nWe introduce a method.\n\nCarol White, Dan Brown\n\n## Next\n\n"
        "Eve Adams, Frank Moore\n"
    )
    pd, _ = _translated(text)
    assert [b.text for b in pd.verbatim] == ["Alice Smith, Bob Jones"]
    assert "Carol White, Dan Brown" in _texts(pd) and "Eve Adams, Frank Moore" in _texts(pd)
    pd, _ = _translated("# T\n\n**Abstract.** Alice Smith, Bob Jones\n")
    assert pd.verbatim == []


def test_byline_needs_a_title() -> None:
    # no H1 first: nothing is a byline; a front matter title is a title
    assert protect.protect("## Intro\n\nAlice Smith, Bob Jones\n", verbatim=protect.Verbatim()).verbatim == []
    assert protect.protect("Alice Smith, Bob Jones\n", verbatim=protect.Verbatim()).verbatim == []
    fm = "---\ntitle: A Paper\n---\n\nAlice Smith, Bob Jones\n\n## Intro\n\nBody.\n"
    pd, out = _translated(fm)
    assert [b.kind for b in pd.verbatim] == ["authors"] and "\n\nAlice Smith, Bob Jones\n\n" in out


def test_options_switch_each_part_off() -> None:
    text = PAPER.read_text(encoding="utf-8")
    refs_only = protect.protect(text, verbatim=protect.Verbatim(authors=False))
    assert [b.kind for b in refs_only.verbatim] == ["references"]
    authors_only = protect.protect(text, verbatim=protect.Verbatim(references=False))
    assert [b.kind for b in authors_only.verbatim] == ["authors", "authors"]
    assert any("Beltagy" in s.text for s in authors_only.segments)


# -- captions (off by default) -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "caption",
    [
        "Figure 1: The pattern.",
        "Fig. 3. The pattern.",
        "Table 2: Results.",
        "**Figure 1:** The pattern.",
        "*Table 4.* Results.",
        "Figure: The converter's marker.",
        "Table: The converter's marker.",
        "Figure S2: Supplementary.",
    ],
)
def test_captions_kept_when_asked(caption: str) -> None:
    text = f"# T\n\nBody text.\n\n{caption}\n\n![The alt text.](fig.png)\n"
    pd, _ = _translated(text)
    assert caption in _texts(pd) and "The alt text." in _texts(pd)  # off by default: translated
    pd, out = _translated(text, protect.Verbatim(captions=True))
    assert [b.kind for b in pd.verbatim] == ["captions", "captions"]
    assert _texts(pd) == ["T", "Body text."]
    assert out.endswith(f"\n\n{caption}\n\n![The alt text.](fig.png)\n")


@pytest.mark.parametrize("prose", ["Figure 1 shows the pattern.", "Table 2 lists the results.", "Figures are nice."])
def test_prose_about_figures_is_not_a_caption(prose: str) -> None:
    pd = protect.protect(f"# T\n\n{prose}\n", verbatim=ALL)
    assert prose in _texts(pd) and pd.verbatim == []


def test_code_passes_through_entirely_today() -> None:
    """Comments in code are never translated: fenced and indented code are not segments at all (no option)."""
    pd = protect.protect("# T\n\n```python\n# a comment in English\nx = 1\n```\n\n    # indented code\n")
    assert _texts(pd) == ["T"]


# -- properties ----------------------------------------------------------------------------------------------------
VERBATIM_FRAGMENTS = [
    *FRAGMENTS,
    "# Title\n",
    "## References\n",
    "References\n",
    "**Bibliography**\n",
    "## 7. References\n",
    "## Appendix\n",
    "Alice Smith¹, Bob Jones²\n",
    "¹Stanford University\n",
    "alice@x.org\n",
    "Figure 1: a\n",
    "Table: b\n",
    "1. A. Author. Title. 2020.\n",
    "[^1]: note\n",
    "---\ntitle: T\n---\n",
    "Abstract\n",
    "# Title\n\nAlice Smith, Bob Jones\n\n",
]
documents = st.lists(st.sampled_from(VERBATIM_FRAGMENTS), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_identity_on_generated_documents(doc: str) -> None:
    assert _identity(doc, ALL) == doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_kept_blocks_come_back_and_never_overlap_a_segment(doc: str) -> None:
    pd, out = _translated(doc, ALL)
    for block in pd.verbatim:
        assert block.text == doc[block.start : block.end] and block.text in out
        for seg in pd.segments:
            assert seg.end <= block.start or seg.start >= block.end, (block, seg.text)
    # keeping parts never adds a segment nor moves one: each lies inside a segment of today's segmentation
    today = [(s.start, s.end) for s in protect.protect(doc).segments]
    assert len(pd.segments) <= len(today)
    for seg in pd.segments:
        assert any(a <= seg.start and seg.end == b for a, b in today), seg.text
