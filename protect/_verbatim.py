"""What stays as it is: the references section, the byline (authors, affiliations) and, as an option, captions.

These blocks pass through like fenced code: never made into segments, so never sent to a model, and restored byte
for byte (restore copies every byte outside a segment from the source). Each choice is a field of :class:`Verbatim`;
:func:`plan` decides, leaf by leaf, which of the scanner's translatable leaves stay as they are.

- **References**: a top-level heading named References, Bibliography, Works Cited, Literature Cited, 参考文献 ...
  (any level, optionally numbered: "7 References", "7. References", "VII. REFERENCES", bold or not), through to the
  next top-level heading of the same or a higher level (an appendix after the references is translated again). The
  LaTeX converter writes ``## References`` for ``thebibliography`` (and a ``.bbl``); the PDF converters write the
  heading they find, or a paragraph of that one word when the font does not make it a heading: such a lone paragraph
  opens the section too, and the next heading of any level closes it. Footnote definitions inside the section
  (the LaTeX converter puts the footnotes after the bibliography) are translated all the same.
- **Authors**: the paragraphs right after the title (the first heading when it is an H1, else the front matter's
  title) that read as a byline (``_authors.py``), up to the first heading, the abstract or the first paragraph that
  does not; a paragraph whose leading lines are a byline and whose rest is not keeps those lines and translates the
  rest.
- **Captions**: paragraphs opening with "Figure 3:", "Fig. 3.", "Table 2:", the converters' "Figure:" / "Table:"
  markers, and the alt text of an image standing alone (d2l's figure captions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ._authors import byline_lines, is_abstract
from ._blocks import RawSegment

__all__ = ["Verbatim", "VerbatimBlock", "plan"]


@dataclass(frozen=True)
class Verbatim:
    """Which parts of a paper stay as they are (pass through untranslated, restored byte for byte)."""

    references: bool = True  # the references / bibliography section
    authors: bool = True  # author and affiliation lines between the title and the first section
    captions: bool = False  # figure and table captions (off: a reader wants them translated)


@dataclass(frozen=True)
class VerbatimBlock:
    """A part kept as it is: ``kind`` is ``references``, ``authors`` or ``captions``; ``text`` its source bytes."""

    kind: str
    start: int
    end: int
    text: str


_NAMES = (
    r"references?|bibliography|works cited|literature cited|cited literature|references and notes|reference list"
    r"|参考文献|参考资料"
)
_REFERENCES = re.compile(
    rf"(?:(?:\d{{1,2}}(?:\.\d{{1,2}})*|[A-Z]|[IVXLC]{{1,6}})[.)]?\s+)?(?:{_NAMES})\s*[:.]?", re.IGNORECASE
)
# what may follow a heading's name: pandoc / kramdown attributes ("References {#refs}"), a LaTeX label (the LaTeX
# converter keeps "\label{sec:refs}" with its heading)
_ATTRIBUTES = re.compile(r"(?:\s*(?:\{[#.][^{}]*\}|\\label\{[^{}]*\}))+\s*$")
_EMPHASIS = re.compile(r"[*_]{1,3}")
_CAPTION = re.compile(
    r"[*_]{0,2}(?:Figure|Fig\.|Table|Tab\.)[ \t]*(?:[A-Z]?\d{1,3}(?:[.-]\d{1,3})*[a-z]?)?[*_]{0,2}[ \t]*[:.][*_]{0,2}"
    r"(?:[ \t]|$)"
)
_LONE = 7  # the level of a references paragraph: any heading closes its section


def _top(raw: RawSegment) -> bool:
    """A leaf of the document itself, not inside a quote, list or footnote."""
    return raw.cont.lstrip("\r\n") == ""


def _lines(src: str, raw: RawSegment) -> list[str]:
    return [src[a:b] for a, b in raw.pieces]


def _references_level(src: str, raw: RawSegment) -> int:
    """The level of the references section ``raw`` opens (0: it opens none)."""
    if not _top(raw) or raw.kind not in ("heading", "paragraph") or len(raw.pieces) != 1:
        return 0
    name = _EMPHASIS.sub("", _ATTRIBUTES.sub("", _lines(src, raw)[0])).strip()
    if _REFERENCES.fullmatch(name) is None:
        return 0
    return raw.level if raw.kind == "heading" else _LONE


def _closes(raw: RawSegment, level: int) -> bool:
    return raw.kind == "heading" and _top(raw) and raw.level <= level


def _is_caption(src: str, raw: RawSegment) -> bool:
    if raw.kind == "caption":  # the alt text of an image standing alone
        return True
    return raw.kind == "paragraph" and _CAPTION.match(_lines(src, raw)[0]) is not None


def _byline_start(raws: list[RawSegment], front_matter_title: bool) -> int | None:
    """Where the byline may start: after the first heading when it is an H1 (the title), else at the top when the
    front matter has a title; None when the document shows no title."""
    first = next((k for k, r in enumerate(raws) if r.kind == "heading" and _top(r)), None)
    if first is not None and raws[first].level == 1:
        return first + 1
    return 0 if front_matter_title else None


class _Plan:
    def __init__(self, src: str, raws: list[RawSegment]) -> None:
        self.src = src
        self.raws = raws
        self.out: list[RawSegment | None] = list(raws)
        self.blocks: list[VerbatimBlock] = []

    def keep(self, kind: str, start: int, end: int) -> None:
        self.blocks.append(VerbatimBlock(kind, start, end, self.src[start:end]))

    def references(self) -> None:
        raws, i = self.raws, 0
        while i < len(raws):
            level = _references_level(self.src, raws[i])
            if not level:
                i += 1
                continue
            j = i + 1
            while j < len(raws) and not _closes(raws[j], level):
                j += 1
            kept = [k for k in range(i, j) if raws[k].kind != "footnote"]
            for k in kept:
                self.out[k] = None
            self.keep("references", raws[i].unit[0], raws[kept[-1]].unit[1])
            i = j

    def authors(self, front_matter_title: bool) -> None:
        start = _byline_start(self.raws, front_matter_title)
        for k in range(start if start is not None else len(self.raws), len(self.raws)):
            raw = self.raws[k]
            if raw.kind == "caption" and _top(raw):
                continue  # a logo or a teaser figure between the title and the byline
            if raw.kind != "paragraph" or not _top(raw) or self.out[k] is None:
                return
            lines = _lines(self.src, raw)
            n = 0 if is_abstract(lines[0]) else byline_lines(lines)
            if n == 0:
                return
            self.keep("authors", raw.pieces[0][0], raw.pieces[n - 1][1])
            if n < len(lines):  # the rest of the paragraph is prose: translated, and the byline ends here
                self.out[k] = replace(raw, pieces=raw.pieces[n:])
                return
            self.out[k] = None

    def captions(self) -> None:
        for k, raw in enumerate(self.raws):
            if self.out[k] is not None and _is_caption(self.src, raw):
                self.out[k] = None
                self.keep("captions", raw.pieces[0][0], raw.pieces[-1][1])


def plan(
    src: str, raws: list[RawSegment], options: Verbatim, front_matter_title: bool = False
) -> tuple[list[RawSegment | None], list[VerbatimBlock]]:
    """For each leaf of ``raws`` (document order): the leaf to translate (itself, or what is left of it once its
    byline lines are kept), or None when it stays as it is; and the blocks kept, in document order."""
    p = _Plan(src, raws)
    if options.references:
        p.references()
    if options.authors:
        p.authors(front_matter_title)
    if options.captions:
        p.captions()
    return p.out, sorted(p.blocks, key=lambda b: b.start)
