"""protect(): a document → segments with placeholders; ProtectedDocument.restore(): translations → the document.

Restoring is a splice by source offsets: every byte outside a translated segment, and every protected span inside
one, is copied from the source, so an untranslated document comes back byte for byte.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ._blocks import RawSegment, scan_blocks
from ._glossary import Glossary
from ._inline import find_masks
from ._placeholder import PlaceholderStyle, get_style
from ._segment import Segment
from ._touching import separate_formulas
from ._validate import SegmentReport, tokens, validate
from ._verbatim import Verbatim, VerbatimBlock, plan

__all__ = ["ProtectedDocument", "RestoreResult", "protect"]

_LETTER = re.compile(r"[^\W\d_]")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*$", re.DOTALL | re.MULTILINE)
_FM_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_NEWLINES = re.compile(r"[ \t]*(?:\r\n|\r|\n)\s*")
_PIPE = re.compile(r"(?<!\\)\|")
# What would open a new block at the start of a translated line (and so change the document's structure): a heading,
# list marker, quote, fence, or setext underline. Such a line start gets a backslash, which renders as the same text.
_BLOCK_START = re.compile(
    r"(?m)^[ \t]*(?=#{1,6}(?:[ \t]|$)|[-+*][ \t]|\d{1,9}[.)](?:[ \t]|$)|>|`{3}|~{3}|=+[ \t]*$|-+[ \t]*$)"
)
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_LABEL = re.compile(r"\s*(?:\\label\s*\{[^{}]*\}|:(?:label|eqlabel):`[^`]*`)\s*")
_NUMBERED = re.compile(r"(?m)^([ \t]*\d{1,9})(?=[.)](?:[ \t]|$))")


@dataclass
class RestoreResult:
    """The reassembled document and one report per segment."""

    text: str
    reports: dict[str, SegmentReport]

    @property
    def fallbacks(self) -> list[str]:
        """Ids of the segments that kept their source text."""
        return [sid for sid, r in self.reports.items() if r.status == "fallback"]


@dataclass
class ProtectedDocument:
    """A document cut into translatable segments; everything else is kept as source bytes."""

    source: str
    segments: list[Segment]
    title: str | None = None
    glossary: Glossary | None = None
    style: PlaceholderStyle = field(default_factory=lambda: get_style(None), repr=False)
    # the parts kept as they are (``protect(verbatim=...)``): not segments, restored byte for byte
    verbatim: list[VerbatimBlock] = field(default_factory=list)

    def segment(self, segment_id: str) -> Segment:
        """The segment with this id (KeyError if unknown)."""
        for seg in self.segments:
            if seg.id == segment_id:
                return seg
        raise KeyError(segment_id)

    def restore(self, translations: Mapping[str, str], bilingual: bool = False) -> RestoreResult:
        """Reassemble the document from ``{segment id: translated masked text}``.

        Each translation is validated; one that fails a hard check, and a segment without a translation, keeps its
        source text (reported as "fallback", never dropped). ``bilingual`` puts each translated block right after
        its source block.
        """
        reports: dict[str, SegmentReport] = {}
        rendered: dict[str, str] = {}
        valid: dict[str, str] = {}
        for seg in self.segments:
            text = translations.get(seg.id)
            if text is None:
                report = SegmentReport()
                report.add("no_translation", "no translation was given")
            else:
                report = validate(seg, text, self.glossary)
                if report.status == "ok":
                    rendered[seg.id] = render(seg, text, self.source)
                    valid[seg.id] = text
            reports[seg.id] = report
        if bilingual:
            out = self._bilingual(rendered, valid)
        else:
            out = _splice(self.source, self.segments, rendered, 0, len(self.source))
        return RestoreResult("".join(out), reports)

    def _bilingual(self, rendered: dict[str, str], valid: dict[str, str]) -> list[str]:
        """Each translated unit (a block's source lines) is followed by a blank line and its translated copy.

        The copy holds only the lines that carry its segments, and drops labels (``\\label{}``, ``:label:``), so
        that the document does not define a label or a reference target twice."""
        src, out, pos = self.source, [], 0
        units: dict[tuple[int, int], list[Segment]] = {}
        for seg in self.segments:
            units.setdefault(seg.unit, []).append(seg)
        for (ua, ub), segs in sorted(units.items()):
            if ua < pos or not any(s.id in rendered and rendered[s.id] != s.source for s in segs):
                continue
            out.append(src[pos:ub])
            nl = "\r\n" if segs[0].cont.startswith("\r\n") else "\n"
            prefix = segs[0].cont[len(nl):].rstrip()
            ends_line = src[ua:ub].endswith(("\n", "\r"))
            if not ends_line:
                out.append(nl)
            out.append(prefix + nl)
            a = max(ua, src.rfind("\n", 0, segs[0].start) + 1, src.rfind("\r", 0, segs[0].start) + 1)
            brk = _LINE_BREAK.search(src, segs[-1].end, ub)
            b = brk.start() if brk is not None else ub
            copies = {s.id: render(s, valid[s.id], src, drop_labels=True).rstrip() for s in segs if s.id in valid}
            out.extend(_splice(src, segs, copies, a, b))
            out.append(nl if ends_line else "")
            pos = ub
        out.append(src[pos:])
        return out


def _splice(src: str, segs: list[Segment], rendered: Mapping[str, str], a: int, b: int) -> list[str]:
    out: list[str] = []
    pos = a
    for seg in segs:
        if seg.start < pos or seg.end > b:
            continue
        text = rendered.get(seg.id)
        if text is None:
            continue
        out.append(src[pos : seg.start])
        out.append(text)
        pos = seg.end
    out.append(src[pos:b])
    return out


def render(seg: Segment, translation: str, source: str, drop_labels: bool = False) -> str:
    """The source bytes for a validated translation: placeholders back to their spans, line breaks re-prefixed, and
    formulas that the translation writes touching separated by a space (:func:`separate_formulas`).

    ``drop_labels`` leaves out spans that define a label (for the second copy of a block in the bilingual form)."""
    if translation == seg.text and not drop_labels:
        return source[seg.start : seg.end]
    # two formulas written touching ("$a$$b$" opens display math): a space between them, reported by validate
    translation = separate_formulas(translation.strip(), seg.placeholders, seg.style, seg.text)
    if not seg.single_line:
        translation = _escape_block_starts(_NEWLINES.sub("\n", translation))
    out: list[str] = []
    pos = 0
    for a, b, ph in tokens(seg, translation):
        out.append(_layout(seg, translation[pos:a]))
        original = seg.placeholders[ph]
        out.append("" if drop_labels and _LABEL.fullmatch(original) else original)
        pos = b
    out.append(_layout(seg, translation[pos:]))
    return "".join(out)


def _escape_block_starts(text: str) -> str:
    text = _NUMBERED.sub(lambda m: m.group(1) + "\\", text)
    return _BLOCK_START.sub(lambda m: m.group(0) + "\\", text)


def _layout(seg: Segment, text: str) -> str:
    brk = " " if seg.single_line else seg.cont
    text = _NEWLINES.sub(lambda _: brk, text)
    if seg.kind == "table_cell":
        text = _PIPE.sub(r"\\|", text)
    return text


class _OffsetMap:
    """Content offsets (the lines of a block joined by ``\\n``) → source offsets."""

    def __init__(self, pieces: list[tuple[int, int]]) -> None:
        self.pieces = pieces
        self.offs: list[int] = []
        off = 0
        for a, b in pieces:
            self.offs.append(off)
            off += b - a + 1

    def __call__(self, x: int) -> int:
        k = bisect_right(self.offs, x) - 1
        a, b = self.pieces[k]
        return min(a + x - self.offs[k], b)


def _title(src: str, h1: str | None) -> str | None:
    fm = _FRONT_MATTER.match(src)
    if fm is not None:
        t = _FM_TITLE.search(fm.group(1))
        if t is not None and t.group(1).strip("'\""):
            return t.group(1).strip("'\"")
    return h1


def protect(
    markdown: str,
    glossary: Glossary | None = None,
    style: PlaceholderStyle | str | None = None,
    verbatim: Verbatim | None = None,
) -> ProtectedDocument:
    """Cut ``markdown`` into segments with every protected span replaced by a placeholder.

    ``style`` picks the placeholder form (default: the measured best, see ``docs/placeholders.md``). ``verbatim``
    names the parts of a paper kept as they are (references, byline, captions: :class:`Verbatim`); None keeps none
    of them (every prose block is a segment), which is what corpus alignment and the benchmarks rely on.
    """
    st = get_style(style)
    src = markdown
    segments: list[Segment] = []
    headings: list[tuple[int, str]] = []
    h1: str | None = None
    raws = scan_blocks(src)
    kept: list[VerbatimBlock] = []
    todo: list[RawSegment | None] = list(raws)
    if verbatim is not None:
        todo, kept = plan(src, raws, verbatim, front_matter_title=_title(src, None) is not None)
    for raw, part in zip(raws, todo, strict=True):
        if raw.kind == "heading":
            path_text = " ".join(" ".join(src[a:b] for a, b in raw.pieces).split())
            while headings and headings[-1][0] >= raw.level:
                headings.pop()
            path = [t for _, t in headings]
            headings.append((raw.level, path_text))
            if raw.level == 1 and h1 is None:
                h1 = path_text
        else:
            path = [t for _, t in headings]
        if part is None:
            continue  # kept as it is: restore copies its bytes from the source
        content = "\n".join(src[a:b] for a, b in part.pieces)
        seg = _segment(src, part, content, find_masks(content, st), st, f"s{len(segments)}", path, glossary)
        if seg is not None and raw.kind == "heading":
            seg = replace(seg, heading=path_text)
        if seg is not None:
            segments.append(seg)
    return ProtectedDocument(src, segments, _title(src, h1), glossary, st, kept)


def _segment(
    src: str,
    raw: RawSegment,
    content: str,
    masks: list[tuple[int, int]],
    style: PlaceholderStyle,
    sid: str,
    path: list[str],
    glossary: Glossary | None,
) -> Segment | None:
    omap = _OffsetMap(raw.pieces)
    parts: list[str] = []
    prose: list[str] = []
    placeholders: dict[str, str] = {}
    pos = 0
    for n, (x, y) in enumerate(masks, start=1):
        parts.append(content[pos:x])
        prose.append(content[pos:x])
        ph = style.make(n)
        parts.append(ph)
        placeholders[ph] = src[omap(x) : omap(y)]
        pos = y
    parts.append(content[pos:])
    prose.append(content[pos:])
    if not _LETTER.search(" ".join(prose)):
        return None  # nothing to translate: the block passes through untouched
    text = "".join(parts)
    start, end = raw.pieces[0][0], raw.pieces[-1][1]
    return Segment(
        id=sid,
        text=text,
        placeholders=placeholders,
        kind=raw.kind,
        heading_path=path,
        glossary=glossary.find(text) if glossary is not None else [],
        level=raw.level,
        source=src[start:end],
        style=style,
        start=start,
        end=end,
        cont=raw.cont,
        single_line=raw.single_line,
        unit=raw.unit,
    )
