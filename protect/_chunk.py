"""Chunking: consecutive segments grouped under a token budget, each chunk with read-only context.

A chunk never crosses a section heading (so its ``heading_path`` is true for all its items). A segment longer than the
budget is split at sentence boundaries into parts; the parts' translations are concatenated in order (``"".join``)
to form the segment's translation, so the parts themselves concatenate to the segment text exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._document import ProtectedDocument
from ._segment import Segment

__all__ = ["Chunk", "ChunkItem", "chunk", "split_sentences"]

# Boundaries after which a piece may end, strongest first; every cut is just after whitespace, and a placeholder
# never contains whitespace, so no cut falls inside a placeholder.
_SENTENCE = re.compile(r"(?<=[.!?;:。！？；])[\"'”’)\]]*\s+")
_CLAUSE = re.compile(r"(?<=[,，、])\s+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ChunkItem:
    """One thing to translate: a whole segment (``parts == 1``) or part ``part`` (0-based) of ``parts``."""

    segment_id: str
    part: int
    parts: int
    text: str


@dataclass
class Chunk:
    """A group of items translated together, with read-only context for the prompt."""

    index: int
    items: list[ChunkItem]
    title: str | None
    heading_path: list[str]
    context: list[str] = field(default_factory=list)  # the preceding source items (masked text), oldest first


def _cuts(text: str, pattern: re.Pattern[str]) -> list[str]:
    pieces, pos = [], 0
    for m in pattern.finditer(text):
        if m.end() < len(text):
            pieces.append(text[pos : m.end()])
            pos = m.end()
    pieces.append(text[pos:])
    return [p for p in pieces if p]


def split_sentences(text: str, budget_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Pieces of ``text`` (``"".join(pieces) == text``), each within the budget where a boundary allows it.

    Sentences are packed greedily; a sentence over the budget is cut at clauses, then at spaces.
    """
    out: list[str] = []
    for sentence in _cuts(text, _SENTENCE):
        if count_tokens(sentence) <= budget_tokens:
            out.append(sentence)
            continue
        for clause in _cuts(sentence, _CLAUSE):
            if count_tokens(clause) <= budget_tokens:
                out.append(clause)
            else:
                out.extend(_pack(_cuts(clause, _SPACE), budget_tokens, count_tokens))
    return _pack(out, budget_tokens, count_tokens)


def _pack(pieces: list[str], budget: int, count: Callable[[str], int]) -> list[str]:
    packed: list[str] = []
    for p in pieces:
        if packed and count(packed[-1] + p) <= budget:
            packed[-1] += p
        else:
            packed.append(p)
    return packed


def chunk(
    pd: ProtectedDocument, budget_tokens: int, count_tokens: Callable[[str], int], overlap: int = 1
) -> list[Chunk]:
    """Group the segments of ``pd`` into chunks of at most ``budget_tokens`` (by ``count_tokens``).

    Each chunk's ``context`` holds the ``overlap`` items preceding it (masked source text), so chunks can be
    translated in parallel and still read as one paper.
    """
    if budget_tokens < 1:
        raise ValueError("budget_tokens must be at least 1")
    if overlap < 0:
        raise ValueError("overlap must be >= 0")
    chunks: list[Chunk] = []
    history: list[str] = []  # masked text of every item so far, in order
    current: list[ChunkItem] = []
    used = 0
    section: list[str] | None = None

    def close() -> None:
        nonlocal current, used
        if current:
            first = len(history) - len(current)
            ctx = history[max(0, first - overlap) : first] if overlap else []
            chunks.append(Chunk(len(chunks), current, pd.title, list(section or []), ctx))
        current, used = [], 0

    for seg in pd.segments:
        path = _section(seg)
        if path != section:
            close()
            section = path
        cost = count_tokens(seg.text)
        pieces = [seg.text] if cost <= budget_tokens else split_sentences(seg.text, budget_tokens, count_tokens)
        for i, piece in enumerate(pieces):
            c = cost if len(pieces) == 1 else count_tokens(piece)
            if current and used + c > budget_tokens:
                close()
            current.append(ChunkItem(seg.id, i, len(pieces), piece))
            history.append(piece)
            used += c
    close()
    return chunks


def _section(seg: Segment) -> list[str]:
    """The heading path a segment belongs to (a heading belongs to its own section)."""
    return [*seg.heading_path, seg.heading] if seg.kind == "heading" else seg.heading_path
